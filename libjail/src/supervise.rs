//! The per-jail supervisor (`jail-init supervise`), like conmon or LXC's
//! monitor: a small single-threaded process that starts the jail, owns its
//! console, writes its state file, applies the restart policy, turns
//! `reboot(2)` and `poweroff` inside the jail into a restart and a stop, and
//! serves a control socket. It outlives the daemon: `kill -9 jaild` leaves
//! every jail and its console running, and a restarted daemon finds them
//! again through the state files (pid + start time).
//!
//! The state file is written atomically (temp file, fsync, rename) at every
//! change. The control socket takes one JSON request per line and answers
//! one JSON line: `stop`, `restart`, `signal`, `status`, `resize`, and
//! `attach` (after its reply the connection is a raw console stream; the
//! last 64 KiB of output are replayed first).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::exec::start_time;
use crate::idmap::{IdLease, IdPool};
use crate::plan::{Console, Plan};
use crate::policy::{IdMode, Policy};
use crate::spawn::{self, Running, SpawnError};
use crate::sys;

/// How much console output is replayed to a new `attach`.
const REPLAY: usize = 64 * 1024;
/// The console log is rotated past this size (one old file kept).
const LOG_ROTATE: u64 = 4 * 1024 * 1024;

/// When the jail's init exits on its own, whether to start it again.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    Never,
    OnFailure,
    Always,
}

impl std::str::FromStr for RestartPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "never" | "no" => Ok(RestartPolicy::Never),
            "on-failure" => Ok(RestartPolicy::OnFailure),
            "always" => Ok(RestartPolicy::Always),
            other => Err(format!(
                "restart policy `{other}`: expected never, on-failure or always"
            )),
        }
    }
}

/// What the supervisor is told to run.
#[derive(Debug)]
pub struct Options {
    pub name: String,
    pub root: PathBuf,
    pub argv: Vec<String>,
    pub policy: Policy,
    pub state: PathBuf,
    pub console_log: PathBuf,
    pub control: PathBuf,
    pub restart: RestartPolicy,
    /// At most this many restarts on exit (0: no limit for `always`).
    pub restart_max: u32,
    /// First back-off; doubled for each consecutive restart.
    pub restart_backoff: Duration,
    pub stop_signal: i32,
    pub id_pool: IdPool,
    /// jaild's address pool: `address: [auto]` leases from it, static
    /// addresses are registered in it.
    pub address_pool: Option<crate::net::AddressPool>,
    /// Gets `ok` (or why not) and is closed once the first state
    /// (`starting`, with our pid) is on disk: the detaching parent waits for
    /// that, so whoever started the supervisor finds it in the state file
    /// as soon as the parent exits.
    pub ready: Option<std::os::fd::OwnedFd>,
}

/// The state file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub state: String,
    pub supervisor_pid: i32,
    pub supervisor_start: u64,
    pub pid: Option<i32>,
    pub pid_start: Option<u64>,
    pub started_at: Option<u64>,
    pub restarts: u32,
    pub exit_status: Option<i32>,
    pub landlock: Option<String>,
    pub uid_map: Option<String>,
    pub error: Option<String>,
    /// The jail's cgroup while it runs (jaild reads its stats there).
    #[serde(default)]
    pub cgroup: Option<crate::cgroup::CgroupPaths>,
    /// What the network setup made while it runs.
    #[serde(default)]
    pub net: Option<crate::net::NetSetup>,
}

/// A request on the control socket.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Request {
    Stop {
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    Restart {
        #[serde(default)]
        timeout_ms: Option<u64>,
    },
    Signal {
        signal: i32,
    },
    Status,
    Attach,
    Resize {
        rows: u16,
        cols: u16,
    },
}

/// Write `value` as JSON to `path` atomically: temp file, fsync, rename,
/// fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        // A full disk must not keep half a copy: the old state stays as it was.
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    std::fs::File::open(dir)?.sync_all()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Why the jail's init ended.
enum Ended {
    /// It exited on its own with this status.
    Exited(i32),
    /// `reboot(2)` with RESTART inside.
    Reboot,
    /// `reboot(2)` with HALT or POWER_OFF inside.
    Poweroff,
    /// Stopped on request; answer these control connections.
    Stopped(Vec<UnixStream>),
    /// Restart on request.
    Restart(Vec<UnixStream>),
}

struct Supervisor {
    opts: Options,
    state: State,
    listener: UnixListener,
    clients: Vec<(UnixStream, Vec<u8>)>,
    attached: Vec<UnixStream>,
    replay: VecDeque<u8>,
    log: Option<std::fs::File>,
    _lease: Option<IdLease>,
    plan: Plan,
}

/// Run the supervisor; returns its exit status. The caller has detached it
/// (its own session, stdio on /dev/null).
pub fn supervise(mut opts: Options) -> i32 {
    let mut state = State {
        state: "starting".into(),
        supervisor_pid: sys::getpid(),
        supervisor_start: start_time(sys::getpid()).unwrap_or(0),
        ..State::default()
    };
    let fail = |state: &mut State, path: &Path, msg: String| {
        state.state = "failed".into();
        state.error = Some(msg);
        let _ = write_atomic(path, &serde_json::to_vec_pretty(state).unwrap_or_default());
        1
    };
    // The first state tells whoever started us that we run (and where): if it cannot be
    // written, nobody could find or stop the jail, so nothing is started.
    let first = write_atomic(&opts.state, &serde_json::to_vec_pretty(&state).unwrap_or_default());
    let report = match &first {
        Ok(()) => "ok".to_string(),
        Err(e) => format!("write the state file {}: {e}", opts.state.display()),
    };
    if let Some(ready) = opts.ready.take() {
        let _ = std::fs::File::from(ready).write_all(report.as_bytes());
    }
    if first.is_err() {
        let _ = writeln!(std::io::stderr(), "jail-init: {report}");
        return 1;
    }
    let _ = std::fs::remove_file(&opts.control);
    let listener = match UnixListener::bind(&opts.control) {
        Ok(l) => l,
        Err(e) => return fail(&mut state, &opts.state, format!("bind {}: {e}", opts.control.display())),
    };
    let _ = listener.set_nonblocking(true);
    let lease = match opts.policy.ids.mode {
        IdMode::Isolated => match opts.id_pool.lease() {
            Ok(l) => Some(l),
            Err(e) => return fail(&mut state, &opts.state, e.to_string()),
        },
        _ => None,
    };
    let mut plan = match Plan::new(
        &opts.name,
        opts.root.clone(),
        opts.argv.clone(),
        opts.policy.clone(),
        lease.as_ref().map(|l| l.base),
        Console::Pty,
    ) {
        Ok(p) => p,
        Err(e) => return fail(&mut state, &opts.state, e.to_string()),
    };
    // `address: [auto]` leases from the pool (the lease held by this jail
    // comes back: kept across restarts); static addresses are registered
    // there, so two jails cannot share one.
    if opts.policy.network.mode != crate::policy::NetMode::None {
        if opts.policy.network.is_auto() && opts.address_pool.is_none() {
            return fail(
                &mut state,
                &opts.state,
                "network: `address: [auto]` needs an address pool (start jaild with --address-pool CIDR)".into(),
            );
        }
        match crate::net::resolve_addresses(&opts.name, &opts.policy.network, opts.address_pool.as_ref()) {
            Ok(addresses) => plan.addresses = addresses,
            Err(e) => return fail(&mut state, &opts.state, e.to_string()),
        }
    }
    plan.intercept_reboot = true;
    // A supervised jail always gets a cgroup: stop kills through it, stats
    // read it.
    plan.cgroup = true;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&opts.console_log)
        .ok();
    let mut sup = Supervisor {
        opts,
        state,
        listener,
        clients: Vec::new(),
        attached: Vec::new(),
        replay: VecDeque::new(),
        log,
        _lease: lease,
        plan,
    };
    let code = sup.run();
    let _ = std::fs::remove_file(&sup.opts.control);
    code
}

impl Supervisor {
    fn save(&self) {
        let _ = write_atomic(
            &self.opts.state,
            &serde_json::to_vec_pretty(&self.state).unwrap_or_default(),
        );
    }

    fn start(&mut self) -> Result<Running, SpawnError> {
        self.state.state = "starting".into();
        self.state.exit_status = None;
        self.save();
        let running = spawn::spawn(&self.plan)?;
        self.state.state = "running".into();
        self.state.pid = Some(running.pid);
        self.state.pid_start = start_time(running.pid);
        self.state.cgroup = running.cgroup.as_ref().map(|c| c.paths().clone());
        self.state.net.clone_from(&running.net);
        self.state.started_at = Some(now());
        self.state.landlock.clone_from(&running.landlock);
        self.state.uid_map = Some(self.plan.uid_map.to_proc());
        self.state.error = None;
        self.save();
        // Setting the jail up used memory the long wait that follows does not need.
        sys::malloc_trim();
        Ok(running)
    }

    fn run(&mut self) -> i32 {
        let mut blocked = spawn::FORWARDED.to_vec();
        blocked.push(libc::SIGCHLD);
        if sys::block_signals(&blocked).is_err() {
            return 1;
        }
        let Ok(sfd) = sys::signalfd(&blocked) else { return 1 };
        let mut consecutive = 0u32;
        loop {
            let running = match self.start() {
                Ok(r) => r,
                Err(e) => {
                    self.state.state = "failed".into();
                    self.state.error = Some(e.to_string());
                    self.state.pid = None;
                    self.state.pid_start = None;
                    self.state.cgroup = None;
                    self.state.net = None;
                    self.save();
                    self.answer_pending();
                    return 1;
                }
            };
            let mut running = running;
            let ended = self.watch(&running, &sfd);
            // Whatever is left in its cgroup dies; cgroup and veth go.
            running.cleanup();
            self.state.pid = None;
            self.state.pid_start = None;
            self.state.cgroup = None;
            self.state.net = None;
            match ended {
                Ended::Stopped(waiters) => {
                    self.state.state = "stopped".into();
                    self.save();
                    for w in waiters {
                        reply(w, &serde_json::json!({"ok": true}));
                    }
                    return 0;
                }
                Ended::Poweroff => {
                    self.state.state = "stopped".into();
                    self.save();
                    return 0;
                }
                Ended::Reboot => {
                    self.state.restarts += 1;
                    consecutive = 0;
                }
                Ended::Restart(waiters) => {
                    self.state.restarts += 1;
                    consecutive = 0;
                    for w in waiters {
                        reply(w, &serde_json::json!({"ok": true}));
                    }
                }
                Ended::Exited(code) => {
                    self.state.exit_status = Some(code);
                    let again = match self.opts.restart {
                        RestartPolicy::Never => false,
                        RestartPolicy::OnFailure => code != 0,
                        RestartPolicy::Always => true,
                    };
                    let under_max = self.opts.restart_max == 0 || consecutive < self.opts.restart_max;
                    if !again || !under_max {
                        self.state.state = if code == 0 { "stopped".into() } else { "failed".into() };
                        self.save();
                        return 0;
                    }
                    // Back off: first, doubled for each consecutive restart.
                    let delay = self.opts.restart_backoff.saturating_mul(1 << consecutive.min(10));
                    consecutive += 1;
                    self.state.restarts += 1;
                    self.state.state = "restarting".into();
                    self.save();
                    if self.sleep_serving(delay, &sfd) {
                        self.state.state = "stopped".into();
                        self.save();
                        return 0;
                    }
                }
            }
        }
    }

    /// Answer control connections that arrived while nothing runs.
    fn answer_pending(&mut self) {
        self.accept();
        for (c, _) in self.clients.drain(..) {
            reply(c, &serde_json::json!({"ok": false, "error": self.state.error}));
        }
    }

    /// Wait out a back-off while serving `status` and `stop`; true when a
    /// stop arrived.
    fn sleep_serving(&mut self, delay: Duration, _sfd: &OwnedFd) -> bool {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now());
            let mut fds = [libc::pollfd {
                fd: self.listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            }];
            let _ = sys::poll(&mut fds, i32::try_from(left.as_millis()).unwrap_or(i32::MAX).max(1));
            self.accept();
            let mut stop = false;
            let clients = std::mem::take(&mut self.clients);
            for (mut c, mut buf) in clients {
                match read_request(&mut c, &mut buf) {
                    Some(Request::Stop { .. }) => {
                        reply(c, &serde_json::json!({"ok": true}));
                        stop = true;
                    }
                    Some(Request::Status) => reply(c, &serde_json::to_value(&self.state).unwrap_or_default()),
                    Some(_) => reply(c, &serde_json::json!({"ok": false, "error": "the jail is restarting"})),
                    None if !buf.contains(&0) => self.clients.push((c, buf)),
                    None => {}
                }
            }
            if stop {
                return true;
            }
        }
        false
    }

    fn accept(&mut self) {
        while let Ok((c, _)) = self.listener.accept() {
            let _ = c.set_nonblocking(true);
            self.clients.push((c, Vec::new()));
        }
    }

    fn console_out(&mut self, bytes: &[u8]) {
        if let Some(log) = &mut self.log {
            let _ = log.write_all(bytes);
            if log.metadata().map(|m| m.len()).unwrap_or(0) > LOG_ROTATE {
                let old = self.opts.console_log.with_extension("log.1");
                let _ = std::fs::rename(&self.opts.console_log, old);
                self.log = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.opts.console_log)
                    .ok();
            }
        }
        self.replay.extend(bytes);
        let excess = self.replay.len().saturating_sub(REPLAY);
        self.replay.drain(..excess);
        self.attached.retain_mut(|c| write_all_nb(c, bytes));
    }

    /// Serve everything until the jail's init ends.
    fn watch(&mut self, running: &Running, sfd: &OwnedFd) -> Ended {
        let Some(master) = running.pty.as_ref() else {
            return Ended::Exited(125);
        };
        let mut buf = vec![0u8; 16 * 1024];
        let mut deadline: Option<(Instant, Vec<UnixStream>, bool)> = None;
        let mut requested_reboot = None;
        loop {
            if let Ok(Some((_, st))) = sys::waitpid(running.pid, libc::WNOHANG) {
                // Drain what the console still holds.
                while let Ok(n) = read_nb(master, &mut buf) {
                    if n == 0 {
                        break;
                    }
                    self.console_out(&buf[..n]);
                }
                // A pending stop or restart request wins over what the
                // jail did meanwhile (a reboot, an exit).
                return match (deadline.take(), requested_reboot) {
                    (Some((_, waiters, false)), _) => Ended::Stopped(waiters),
                    (Some((_, waiters, true)), _) => Ended::Restart(waiters),
                    (None, Some(kind)) => kind,
                    (None, None) => Ended::Exited(spawn::exit_status(st)),
                };
            }
            if let Some((when, _, _)) = &deadline
                && Instant::now() >= *when
            {
                // Grace period over: pid 1 of the namespace dies, and the
                // kernel kills every other process in it.
                let _ = sys::kill(running.pid, libc::SIGKILL);
            }
            let mut fds = vec![
                libc::pollfd {
                    fd: sfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: master.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.listener.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: running.notify.as_ref().map_or(-1, AsRawFd::as_raw_fd),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            for (c, _) in &self.clients {
                fds.push(libc::pollfd {
                    fd: c.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            for c in &self.attached {
                fds.push(libc::pollfd {
                    fd: c.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            let timeout = deadline.as_ref().map_or(1000, |(w, _, _)| {
                i32::try_from(w.saturating_duration_since(Instant::now()).as_millis())
                    .unwrap_or(1000)
                    .clamp(1, 1000)
            });
            if sys::poll(&mut fds, timeout).is_err() {
                continue;
            }
            if fds[0].revents != 0
                && let Ok(sig) = sys::read_signalfd(sfd.as_fd())
                && (sig == libc::SIGTERM || sig == libc::SIGINT)
            {
                // SIGTERM to the supervisor stops the jail.
                let _ = sys::kill(running.pid, self.opts.stop_signal);
                deadline.get_or_insert((Instant::now() + Duration::from_secs(10), Vec::new(), false));
            }
            if fds[1].revents != 0 {
                match read_nb(master, &mut buf) {
                    Ok(n) if n > 0 => {
                        let chunk = buf[..n].to_vec();
                        self.console_out(&chunk);
                    }
                    _ => {}
                }
            }
            if fds[3].revents != 0
                && let Some(nfd) = &running.notify
                && let Some(kind) = crate::reboot::handle(nfd.as_fd())
            {
                requested_reboot = Some(match kind {
                    crate::reboot::Kind::Restart => Ended::Reboot,
                    crate::reboot::Kind::Halt => Ended::Poweroff,
                });
                let _ = sys::kill(running.pid, libc::SIGKILL);
            }
            // Console input from attached clients.
            let base = 4 + self.clients.len();
            let mut keep = Vec::new();
            for (i, mut c) in std::mem::take(&mut self.attached).into_iter().enumerate() {
                if fds.get(base + i).is_some_and(|f| f.revents != 0) {
                    match c.read(&mut buf) {
                        Ok(0) => continue,
                        Ok(n) => {
                            let _ = sys::write_all(master.as_fd(), &buf[..n]);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => continue,
                    }
                }
                keep.push(c);
            }
            self.attached = keep;
            // Requests.
            self.accept();
            let clients = std::mem::take(&mut self.clients);
            for (mut c, mut buf) in clients {
                let Some(req) = read_request(&mut c, &mut buf) else {
                    if !buf.contains(&0) {
                        self.clients.push((c, buf));
                    }
                    continue;
                };
                match req {
                    Request::Status => reply(c, &serde_json::to_value(&self.state).unwrap_or_default()),
                    Request::Signal { signal } => {
                        let ok = sys::kill(running.pid, signal).is_ok();
                        reply(c, &serde_json::json!({"ok": ok}));
                    }
                    Request::Resize { rows, cols } => {
                        let ws = libc::winsize {
                            ws_row: rows,
                            ws_col: cols,
                            ws_xpixel: 0,
                            ws_ypixel: 0,
                        };
                        let ok = sys::set_window_size(master.as_raw_fd(), &ws).is_ok();
                        reply(c, &serde_json::json!({"ok": ok}));
                    }
                    Request::Attach => {
                        let mut line = serde_json::to_vec(&serde_json::json!({"ok": true})).unwrap_or_default();
                        line.push(b'\n');
                        let replay: Vec<u8> = self.replay.iter().copied().collect();
                        if write_all_nb(&mut c, &line) && write_all_nb(&mut c, &replay) {
                            self.attached.push(c);
                        }
                    }
                    Request::Stop { timeout_ms } | Request::Restart { timeout_ms } => {
                        let restart = matches!(req, Request::Restart { .. });
                        if deadline.is_none() {
                            self.state.state = "stopping".into();
                            self.save();
                            let _ = sys::kill(running.pid, self.opts.stop_signal);
                            let grace = Duration::from_millis(timeout_ms.unwrap_or(10_000));
                            deadline = Some((Instant::now() + grace, Vec::new(), restart));
                        }
                        if let Some((_, waiters, _)) = &mut deadline {
                            waiters.push(c);
                        }
                    }
                }
            }
        }
    }
}

fn read_nb(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    let mut fds = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    if sys::poll(&mut fds, 0)? == 0 || fds[0].revents & libc::POLLIN == 0 {
        return Err(io::Error::from(io::ErrorKind::WouldBlock));
    }
    sys::read(fd.as_fd(), buf)
}

/// Read a line-terminated request from a non-blocking stream; `None`
/// while incomplete. A peer that closed is marked in `buf` by a NUL.
fn read_request(c: &mut UnixStream, buf: &mut Vec<u8>) -> Option<Request> {
    let mut chunk = [0u8; 1024];
    loop {
        match c.read(&mut chunk) {
            Ok(0) => {
                buf.push(0);
                break;
            }
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 64 * 1024 {
                    return None;
                }
            }
            Err(_) => break,
        }
    }
    let end = buf.iter().position(|&b| b == b'\n')?;
    let line: Vec<u8> = buf.drain(..=end).collect();
    match serde_json::from_slice::<Request>(&line) {
        Ok(r) => Some(r),
        Err(e) => {
            reply(
                c.try_clone().ok()?,
                &serde_json::json!({"ok": false, "error": format!("bad request: {e}")}),
            );
            None
        }
    }
}

fn write_all_nb(c: &mut UnixStream, bytes: &[u8]) -> bool {
    let _ = c.set_nonblocking(false);
    let _ = c.set_write_timeout(Some(Duration::from_millis(200)));
    let ok = c.write_all(bytes).is_ok();
    let _ = c.set_nonblocking(true);
    ok
}

fn reply(mut c: UnixStream, value: &serde_json::Value) {
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    let _ = write_all_nb(&mut c, &line);
}
