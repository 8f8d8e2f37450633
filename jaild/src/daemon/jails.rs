//! The jails jaild keeps, and their lifecycle: create, start, stop, restart, destroy, and the
//! re-adoption of running jails when jaild starts.
//!
//! Operations on one jail are serialised by its own lock (a tokio mutex); different jails
//! proceed in parallel. Only a holder of that lock changes a jail's files or processes; `list`
//! and `inspect` only read, and tidy up a dead supervisor's leftovers when the lock is free.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use libjail::plan::{Console, Plan};
use libjail::policy::{self, Policy};
use serde_json::json;
use tokio::sync::OwnedMutexGuard;

use super::error::{ApiError, ApiResult};
use super::fault;
use super::store::{MAX_SOCKET_PATH, Store};
use super::supervisor::{self, Launch};
use crate::api::{
    self, Capabilities, CreateRequest, ExecHint, JailConfig, JailInspect, JailSummary, RunState, SeccompStatus,
};
use crate::state::{SupervisorState, write_replace};

/// The default init command.
pub const DEFAULT_COMMAND: &str = "/sbin/init";

/// At most this many restarts after dead supervisors in a row, unless the jail's restart policy
/// says otherwise (the supervisor's own default for restarts of the init).
pub const DEFAULT_RESTART_MAX: u32 = 5;

/// A jail that ran this long before its supervisor died is restarted as if for the first time
/// (`restart.max` counts restarts in a row).
const STABLE_RUN: Duration = Duration::from_secs(60);

/// The default grace period of a stop.
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How jaild is set up.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The `jail-init` binary.
    pub jail_init: PathBuf,
    /// How long a start may take before jaild gives up on it.
    pub start_timeout: Duration,
    /// The id pool's lock directory, passed to every supervisor.
    pub id_pool_dir: PathBuf,
    /// The id pool's range, `START:SLOTS`.
    pub id_pool: String,
    /// The address pool of `address: [auto]`, passed to every supervisor; destroy releases a
    /// jail's leases.
    pub address_pool: Option<libjail::net::AddressPool>,
}

/// One jail.
#[derive(Debug)]
pub struct Jail {
    /// Its configuration (fixed at create).
    pub config: JailConfig,
    /// Serialises the operations on this jail.
    op: Arc<tokio::sync::Mutex<()>>,
    /// Set by destroy: whoever waited for the lock finds the jail gone.
    gone: AtomicBool,
    /// What the policy resolved to, for the list: (id mode, hostname).
    shown: Mutex<(String, String)>,
    /// Set when jaild found the jail's supervisor dead (and finished the jail off); the sweep
    /// then applies the restart policy. Cleared by every start, stop and restart asked for.
    supervisor_died: AtomicBool,
    /// Restarts jaild made after dead supervisors, in a row (since the last start asked for).
    recoveries: AtomicU32,
}

impl Jail {
    fn new(config: JailConfig, policy: Option<&Policy>) -> Jail {
        let shown = Mutex::new(shown(&config, policy));
        Jail {
            config,
            op: Arc::new(tokio::sync::Mutex::new(())),
            gone: AtomicBool::new(false),
            shown,
            supervisor_died: AtomicBool::new(false),
            recoveries: AtomicU32::new(0),
        }
    }

    /// Forgets a dead supervisor: the user's own start, stop or restart takes over.
    fn reset_recovery(&self) {
        self.supervisor_died.store(false, Ordering::SeqCst);
        self.recoveries.store(0, Ordering::SeqCst);
    }

    fn set_shown(&self, policy: &Policy) {
        if let Ok(mut s) = self.shown.lock() {
            *s = shown(&self.config, Some(policy));
        }
    }
}

/// The id mode and hostname a list shows for `config` under `policy`.
fn shown(config: &JailConfig, policy: Option<&Policy>) -> (String, String) {
    let mode = policy.map_or_else(
        || config.ids.clone().unwrap_or_else(|| "?".to_string()),
        |p| p.ids.mode.to_string(),
    );
    let hostname = config
        .hostname
        .clone()
        .or_else(|| policy.and_then(|p| p.hostname.clone()))
        .unwrap_or_else(|| config.name.clone());
    (mode, hostname)
}

/// The registry: every jail by name, and the names and roots of creates in flight.
#[derive(Debug, Default)]
struct Registry {
    jails: BTreeMap<String, Arc<Jail>>,
    creating: BTreeMap<String, String>,
}

/// What is known about a jail's processes right now.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The state file, if any.
    pub st: Option<SupervisorState>,
    /// The effective state: `stopped` when the file says active but its supervisor is gone.
    pub state: RunState,
    /// The file says active, but the supervisor is gone.
    pub stale: bool,
}

impl Observed {
    /// Whether a supervisor is alive for the jail.
    pub fn active(&self) -> bool {
        self.state.is_active()
    }

    /// The init's pid while the jail is active.
    pub fn pid(&self) -> Option<i32> {
        self.st.as_ref().filter(|_| self.active()).and_then(|s| s.pid)
    }
}

/// The daemon's jails.
#[derive(Debug)]
pub struct Jails {
    /// The directories.
    pub store: Store,
    /// The settings.
    pub settings: Settings,
    registry: Mutex<Registry>,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Sleeps between polls of a state file or a process: 1 ms at first (a start or a stop usually
/// takes a few ms, and every poll interval is latency the caller sees), 10 ms after 50 polls.
#[derive(Debug, Default)]
struct Backoff(u32);

impl Backoff {
    async fn wait(&mut self) {
        self.0 += 1;
        let ms = if self.0 <= 50 { 1 } else { 10 };
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
}

/// Runs blocking work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal("run a blocking task", e.to_string()))
}

/// Resolves `config`'s policy.
pub fn resolve_policy(config: &JailConfig) -> ApiResult<Policy> {
    policy::load(config.policy.as_deref(), &config.policy_sets()).map_err(|e| {
        ApiError::invalid("resolve the policy", e.to_string())
            .hint("check it with `jailctl policy validate FILE` or `jailctl policy explain`")
    })
}

/// Checks that a plan can be built for `config` under `policy` (the supervisor builds the real
/// one, with the id base it leases).
fn check_plan(config: &JailConfig, policy: &Policy) -> ApiResult<()> {
    Plan::new(
        &config.name,
        PathBuf::from(&config.root),
        config.command.clone(),
        policy.clone(),
        Some(0),
        Console::Pty,
    )
    .map(drop)
    .map_err(|e| ApiError::invalid("plan the jail", e.to_string()))
}

/// Opens and checks the root directory; its canonical path.
fn check_root(root: &str) -> ApiResult<String> {
    let path = Path::new(root);
    if !path.is_absolute() {
        return Err(
            ApiError::invalid("check the root", format!("root {root}: not an absolute path"))
                .hint("give the full path (jailctl makes a relative --root absolute)"),
        );
    }
    let checked =
        libjail::rootfs::open_checked(path).map_err(|e| ApiError::invalid("check the root", e.to_string()))?;
    let canon = std::fs::canonicalize(&checked.path)
        .map_err(|e| ApiError::invalid("check the root", format!("root {root}: {e}")))?;
    Ok(canon.to_string_lossy().into_owned())
}

/// Reads `/proc/PID/status` into key → value.
fn proc_status(pid: i32) -> BTreeMap<String, String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The `/proc/PID/ns/*` link targets.
fn namespaces(pid: i32) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let dir = format!("/proc/{pid}/ns");
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for e in entries.flatten() {
            if let Ok(target) = std::fs::read_link(e.path()) {
                out.insert(
                    e.file_name().to_string_lossy().into_owned(),
                    target.to_string_lossy().into_owned(),
                );
            }
        }
    }
    out
}

/// `0 2000000000 65536` → `2000000000+65536`; passthrough maps → `passthrough`.
fn describe_map(map: &str) -> Option<String> {
    let first = map.lines().next()?;
    let f: Vec<&str> = first.split_whitespace().collect();
    match f.as_slice() {
        [_, "0", "4294967295"] => Some("0+4294967295".to_string()),
        [_, outside, count] => Some(format!("{outside}+{count}")),
        _ => None,
    }
}

impl Jails {
    /// The jails of `store`.
    pub fn new(store: Store, settings: Settings) -> Jails {
        Jails {
            store,
            settings,
            registry: Mutex::new(Registry::default()),
        }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        // A panic while holding this lock leaves the map itself consistent.
        self.registry.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Loads every jail from the store.
    pub fn load(&self) -> std::io::Result<usize> {
        let configs = self.store.load_all()?;
        let n = configs.len();
        let mut reg = self.registry();
        for config in configs {
            let policy = resolve_policy(&config).ok();
            reg.jails
                .insert(config.name.clone(), Arc::new(Jail::new(config, policy.as_ref())));
        }
        Ok(n)
    }

    /// Every jail, by name.
    pub fn all(&self) -> Vec<Arc<Jail>> {
        self.registry().jails.values().cloned().collect()
    }

    /// Jail `name`.
    pub fn get(&self, name: &str) -> ApiResult<Arc<Jail>> {
        api::check_name(name).map_err(|e| ApiError::invalid("check the name", e))?;
        self.registry()
            .jails
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::no_such_jail(name))
    }

    /// Jail `name` with its lock held.
    pub async fn lock(&self, name: &str) -> ApiResult<(Arc<Jail>, OwnedMutexGuard<()>)> {
        let jail = self.get(name)?;
        let guard = jail.op.clone().lock_owned().await;
        if jail.gone.load(Ordering::SeqCst) {
            return Err(ApiError::no_such_jail(name));
        }
        Ok((jail, guard))
    }

    /// Reads the jail's state without changing anything.
    pub fn observe(&self, name: &str) -> Observed {
        let st = match SupervisorState::read(&self.store.state(name)) {
            Ok(st) => st,
            Err(e) => {
                tracing::warn!(jail = name, error = %e, "unreadable state file: taken as stopped");
                None
            }
        };
        match st {
            None => Observed {
                st: None,
                state: RunState::Stopped,
                stale: false,
            },
            Some(s) if s.state.is_active() && !s.supervisor_alive() => Observed {
                st: Some(s),
                state: RunState::Stopped,
                stale: true,
            },
            Some(s) => Observed {
                state: s.state,
                st: Some(s),
                stale: false,
            },
        }
    }

    /// Observes the jail and, when its supervisor died, finishes the jail off: SIGKILL to its
    /// init if that still runs (pid 1 of its namespace: the whole jail goes with it), `stopped`
    /// written to its state file, its run directory removed. Call with the jail's lock held.
    /// A jail that is not active has no run directory: what a crash left there is removed.
    pub async fn reconcile(&self, name: &str) -> Observed {
        let obs = self.observe(name);
        if !obs.stale {
            if !obs.active() && self.store.run_dir(name).exists() {
                tracing::info!(jail = name, "removing the run directory of a jail that does not run");
                self.store.clean_run_dir(name);
            }
            return obs;
        }
        if let Some(jail) = self.registry().jails.get(name) {
            jail.supervisor_died.store(true, Ordering::SeqCst);
            // A jail that ran a while before its supervisor died starts a new series of restarts.
            let ran = obs
                .st
                .as_ref()
                .and_then(|s| s.started_at)
                .map(|t| now().saturating_sub(t));
            if ran.is_some_and(|secs| secs >= STABLE_RUN.as_secs()) {
                jail.recoveries.store(0, Ordering::SeqCst);
            }
        }
        let Some(mut st) = obs.st.clone() else { return obs };
        let killed = kill_and_wait(&st, false).await;
        tidy_recorded(name, &st).await;
        tracing::warn!(
            jail = name,
            supervisor_pid = st.supervisor_pid,
            init_killed = killed,
            "the jail's supervisor is gone: jail marked stopped"
        );
        st.state = RunState::Stopped;
        st.error = Some(format!(
            "the supervisor (pid {}) exited without stopping the jail{}",
            st.supervisor_pid,
            if killed { "; its init was killed" } else { "" }
        ));
        st.pid = None;
        st.pid_start = None;
        st.cgroup = None;
        st.net = None;
        self.write_state(name, st).await;
        self.store.clean_run_dir(name);
        self.observe(name)
    }

    /// Writes the jail's state file (only while no supervisor does: after it is gone).
    async fn write_state(&self, name: &str, st: SupervisorState) {
        let path = self.store.state(name);
        let result = blocking(move || st.write(&path).map_err(|e| e.to_string())).await;
        if let Err(e) = result.map_err(|e| e.to_string()).and_then(|r| r) {
            tracing::warn!(jail = name, error = %e, "cannot write the state file");
        }
    }

    /// Observes, reconciling when nobody else holds the jail's lock.
    async fn observe_or_reconcile(&self, jail: &Jail) -> Observed {
        match jail.op.clone().try_lock_owned() {
            Ok(_guard) => self.reconcile(&jail.config.name).await,
            Err(_) => self.observe(&jail.config.name),
        }
    }

    /// The summary of `jail` given what was observed.
    fn summary(&self, jail: &Jail, obs: &Observed) -> JailSummary {
        let (mode, hostname) = jail.shown.lock().map(|s| s.clone()).unwrap_or_default();
        let range = obs
            .st
            .as_ref()
            .filter(|_| obs.active())
            .and_then(|s| s.uid_map.as_deref())
            .and_then(describe_map);
        let ids = match range {
            Some(r) if mode != "passthrough" => format!("{mode} {r}"),
            _ => mode,
        };
        JailSummary {
            name: jail.config.name.clone(),
            state: obs.state,
            pid: obs.pid(),
            ids,
            hostname,
            ip: obs
                .st
                .as_ref()
                .filter(|_| obs.active())
                .and_then(|s| s.net.as_ref())
                .and_then(|n| n.ips().first().map(ToString::to_string)),
            root: jail.config.root.clone(),
            autostart: jail.config.autostart,
            restarts: obs.st.as_ref().map_or(0, |s| s.restarts) + jail.recoveries.load(Ordering::SeqCst),
        }
    }

    /// `GET /v1/jails`.
    pub async fn list(&self) -> Vec<JailSummary> {
        let mut out = Vec::new();
        for jail in self.all() {
            let obs = self.observe_or_reconcile(&jail).await;
            out.push(self.summary(&jail, &obs));
        }
        out
    }

    /// `POST /v1/jails`.
    pub async fn create(&self, req: CreateRequest) -> ApiResult<JailSummary> {
        api::check_name(&req.name)
            .map_err(|e| ApiError::invalid("check the name", e).hint("names match [a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}"))?;
        self.check_free(&req.name, None)?;
        if let Some(p) = &req.policy
            && (p.contains('/') || p.ends_with(".yaml") || p.ends_with(".yml"))
            && !Path::new(p).is_absolute()
        {
            return Err(
                ApiError::invalid("resolve the policy", format!("policy file {p}: not an absolute path"))
                    .hint("jaild resolves policy files on its own side: give the full path"),
            );
        }
        let mut config = JailConfig {
            name: req.name.clone(),
            root: req.root.clone(),
            policy: req.policy.clone(),
            sets: req.sets.clone(),
            hostname: req.hostname.clone(),
            ids: req.ids.clone(),
            autostart: req.autostart,
            command: if req.command.is_empty() {
                vec![DEFAULT_COMMAND.to_string()]
            } else {
                req.command.clone()
            },
            restart: req.restart,
            stop_signal: req.stop_signal.clone(),
            created_at: now(),
        };
        let control = self.store.control(&config.name);
        if control.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(ApiError::invalid(
                "check the name",
                format!(
                    "the control socket path {} is longer than a unix socket address allows ({MAX_SOCKET_PATH} bytes)",
                    control.display()
                ),
            )
            .hint("use a shorter name, or a shorter --run-dir for jaild"));
        }
        let checked = config.clone();
        let (root, policy) = blocking(move || -> ApiResult<(String, Policy)> {
            let root = check_root(&checked.root)?;
            supervisor::stop_signal(&checked).map_err(|e| ApiError::invalid("check the stop signal", e))?;
            let policy = resolve_policy(&checked)?;
            let mut planned = checked.clone();
            planned.root.clone_from(&root);
            check_plan(&planned, &policy)?;
            Ok((root, policy))
        })
        .await??;
        config.root = root;
        // Reserve the name and the root, then write.
        {
            let mut reg = self.registry();
            Self::check_free_in(&reg, &config.name, Some(&config.root))?;
            reg.creating.insert(config.name.clone(), config.root.clone());
        }
        fault::point("create.reserved");
        let store = self.store.clone();
        let written = config.clone();
        let result = blocking(move || store.create(&written)).await;
        let mut reg = self.registry();
        reg.creating.remove(&config.name);
        match result {
            Ok(Ok(())) => fault::point("create.renamed"),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ApiError::conflict(
                    "write the jail's state",
                    format!(
                        "{} exists but holds no readable jail",
                        self.store.dir(&config.name).display()
                    ),
                )
                .hint("jaild's log says why it skipped it; remove the directory or pick another name"));
            }
            Ok(Err(e)) => {
                let full = e.kind() == std::io::ErrorKind::StorageFull;
                let err = ApiError::internal(
                    "write the jail's state",
                    format!("{}: {e}", self.store.dir(&config.name).display()),
                );
                return Err(if full {
                    err.hint("the state directory's filesystem is full; nothing was created")
                } else {
                    err
                });
            }
            Err(e) => return Err(e),
        }
        let jail = Arc::new(Jail::new(config, Some(&policy)));
        reg.jails.insert(jail.config.name.clone(), jail.clone());
        drop(reg);
        tracing::info!(jail = %jail.config.name, root = %jail.config.root, "created");
        Ok(self.summary(&jail, &self.observe(&jail.config.name)))
    }

    fn check_free(&self, name: &str, root: Option<&str>) -> ApiResult<()> {
        Self::check_free_in(&self.registry(), name, root)
    }

    /// Refuses a name that exists or is being created, and a root another jail uses.
    fn check_free_in(reg: &Registry, name: &str, root: Option<&str>) -> ApiResult<()> {
        if reg.jails.contains_key(name) || reg.creating.contains_key(name) {
            return Err(
                ApiError::conflict("check the name", format!("a jail named `{name}` already exists"))
                    .hint("pick another name, or `jailctl destroy` the old jail first"),
            );
        }
        if let Some(root) = root {
            let by_jail = reg
                .jails
                .values()
                .find(|j| j.config.root == root)
                .map(|j| j.config.name.clone());
            let by_create = reg
                .creating
                .iter()
                .find(|(_, r)| r.as_str() == root)
                .map(|(n, _)| n.clone());
            if let Some(other) = by_jail.or(by_create) {
                return Err(ApiError::conflict(
                    "check the root",
                    format!("root {root} is already used by jail `{other}`"),
                )
                .hint("each jail needs its own root directory"));
            }
        }
        Ok(())
    }

    /// `POST /v1/jails/{name}/start`.
    pub async fn start(&self, name: &str) -> ApiResult<JailSummary> {
        let (jail, _guard) = self.lock(name).await?;
        jail.reset_recovery();
        self.start_locked(&jail).await
    }

    /// Starts `jail`; its lock is held.
    async fn start_locked(&self, jail: &Jail) -> ApiResult<JailSummary> {
        let name = jail.config.name.clone();
        let obs = self.reconcile(&name).await;
        if obs.active() {
            let pid = obs.pid().map_or_else(String::new, |p| format!(" (pid {p})"));
            return Err(
                ApiError::conflict("start the jail", format!("jail `{name}` is already {}{pid}", obs.state))
                    .hint("`jailctl restart` restarts it; `jailctl stop` stops it"),
            );
        }
        // Resolve and check everything, write the policy for the supervisor.
        let config = jail.config.clone();
        let store = self.store.clone();
        let has_pool = self.settings.address_pool.is_some();
        let (policy, stop_signal) = blocking(move || -> ApiResult<(Policy, Option<i32>)> {
            // The supervisor builds the plan (with the id range it leases) and reports what fails.
            let policy = resolve_policy(&config)?;
            if policy.network.mode != policy::NetMode::None && policy.network.is_auto() && !has_pool {
                return Err(ApiError::invalid(
                    "start the jail",
                    "network: `address: [auto]` needs an address pool, and jaild has none",
                )
                .hint("start jaild with --address-pool CIDR, or give the jail a static address"));
            }
            check_root(&config.root)?;
            let stop_signal =
                supervisor::stop_signal(&config).map_err(|e| ApiError::invalid("check the stop signal", e))?;
            let internal = |step: &'static str| move |e: std::io::Error| ApiError::internal(step, e.to_string());
            store
                .make_run_dir(&config.name)
                .map_err(internal("create the run directory"))?;
            let text = serde_json::to_vec_pretty(&policy)
                .map_err(|e| ApiError::internal("write the policy", e.to_string()))?;
            // A runtime file: replaced atomically, not fsynced (a reboot discards it anyway).
            write_replace(&store.policy_json(&config.name), &text, 0o600, false)
                .map_err(internal("write the policy"))?;
            // A fresh state file marks the new run; an old control socket would mislead.
            for stale in [store.state(&config.name), store.control(&config.name)] {
                match std::fs::remove_file(&stale) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(ApiError::internal(
                            "remove the old state",
                            format!("{}: {e}", stale.display()),
                        ));
                    }
                }
            }
            Ok((policy, stop_signal))
        })
        .await??;
        fault::point("start.prepared");
        jail.set_shown(&policy);
        let (state, console_log, control, policy_json, sup_log) = (
            self.store.state(&name),
            self.store.console_log(&name),
            self.store.control(&name),
            self.store.policy_json(&name),
            self.store.supervisor_log(&name),
        );
        let offset = supervisor::log_offset(&sup_log);
        let launch = Launch {
            jail_init: &self.settings.jail_init,
            config: &jail.config,
            policy_json: &policy_json,
            state: &state,
            console_log: &console_log,
            control: &control,
            supervisor_log: &sup_log,
            stop_signal,
            id_pool_dir: Some(&self.settings.id_pool_dir),
            id_pool: Some(&self.settings.id_pool),
            address_pool: self.settings.address_pool.as_ref(),
        };
        let began = Instant::now();
        let (status, said) = match launch.run(self.settings.start_timeout).await {
            Ok(done) => done,
            Err(e) => {
                self.store.clean_run_dir(&name);
                return Err(ApiError::internal("start the supervisor", e).hint("check jaild's --jail-init path"));
            }
        };
        fault::point("start.launched");
        if !status.success() && !state.exists() {
            self.store.clean_run_dir(&name);
            let why = if said.is_empty() {
                supervisor::log_tail(&sup_log, offset)
            } else {
                said
            };
            return Err(ApiError::internal(
                "start the supervisor",
                format!("jail-init supervise exited with {status}: {why}"),
            ));
        }
        // Wait for the supervisor to report.
        let deadline = began + self.settings.start_timeout;
        let mut backoff = Backoff::default();
        loop {
            let obs = self.observe(&name);
            if let Some(st) = &obs.st {
                match st.state {
                    RunState::Running => break,
                    RunState::Failed => {
                        self.wait_supervisor_exit(st, Duration::from_secs(2)).await;
                        self.store.clean_run_dir(&name);
                        let error = st.error.clone().unwrap_or_else(|| match st.exit_status {
                            Some(code) => format!("the jail's init exited with status {code} right after the start"),
                            None => "the jail failed to start".to_string(),
                        });
                        return Err(ApiError::invalid("start the jail", error)
                            .hint(format!("the supervisor's log: {}", sup_log.display())));
                    }
                    RunState::Stopped => {
                        // It started and its init already ended (and is not restarted).
                        self.store.clean_run_dir(&name);
                        if let Some(error) = &st.error {
                            return Err(ApiError::invalid("start the jail", error.clone()));
                        }
                        break;
                    }
                    _ if obs.stale => {
                        let log = supervisor::log_tail(&sup_log, offset);
                        self.reconcile(&name).await;
                        return Err(ApiError::internal(
                            "start the jail",
                            format!("the supervisor died while starting the jail: {log}"),
                        ));
                    }
                    _ => {}
                }
            } else if !status.success() {
                let log = supervisor::log_tail(&sup_log, offset);
                return Err(ApiError::internal(
                    "start the supervisor",
                    format!("exited with {status}: {log}"),
                ));
            }
            if Instant::now() >= deadline {
                let log = supervisor::log_tail(&sup_log, offset);
                if let Some(st) = &obs.st {
                    kill_and_wait(st, true).await;
                    tidy_recorded(&name, st).await;
                }
                self.mark_stopped(&name, Some("the start timed out".to_string())).await;
                return Err(ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "start the jail",
                    format!(
                        "the jail did not report running within {} s; it was killed. {log}",
                        self.settings.start_timeout.as_secs()
                    ),
                ));
            }
            backoff.wait().await;
        }
        fault::point("start.running");
        let obs = self.observe(&name);
        tracing::info!(jail = %name, pid = ?obs.pid(), ms = began.elapsed().as_millis() as u64, "started");
        Ok(self.summary(jail, &obs))
    }

    /// Waits until the supervisor of `st` is gone, at most `limit`.
    async fn wait_supervisor_exit(&self, st: &SupervisorState, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut backoff = Backoff::default();
        while st.supervisor_alive() {
            if Instant::now() >= deadline {
                return false;
            }
            backoff.wait().await;
        }
        true
    }

    /// Writes `stopped` into the state file (after the supervisor is gone).
    async fn mark_stopped(&self, name: &str, error: Option<String>) {
        let obs = self.observe(name);
        let mut st = obs.st.unwrap_or(SupervisorState {
            state: RunState::Stopped,
            supervisor_pid: 0,
            supervisor_start: 0,
            pid: None,
            pid_start: None,
            started_at: None,
            restarts: 0,
            exit_status: None,
            landlock: None,
            uid_map: None,
            error: None,
            cgroup: None,
            net: None,
        });
        st.state = RunState::Stopped;
        st.pid = None;
        st.pid_start = None;
        st.cgroup = None;
        st.net = None;
        if error.is_some() {
            st.error = error;
        }
        self.write_state(name, st).await;
        self.store.clean_run_dir(name);
    }

    /// `POST /v1/jails/{name}/stop`.
    pub async fn stop(&self, name: &str, timeout: Duration) -> ApiResult<JailSummary> {
        let (jail, _guard) = self.lock(name).await?;
        let obs = self.reconcile(name).await;
        jail.reset_recovery();
        if !obs.active() {
            return Err(
                ApiError::conflict("stop the jail", format!("jail `{name}` is not running ({})", obs.state))
                    .hint("`jailctl start` starts it"),
            );
        }
        self.stop_locked(&jail, &obs, timeout).await?;
        Ok(self.summary(&jail, &self.observe(name)))
    }

    /// Stops `jail` (lock held; `obs` active): asks its supervisor, which sends the stop signal,
    /// waits `timeout`, kills what is left and exits. If the supervisor cannot be reached or
    /// does not finish, its processes are killed.
    async fn stop_locked(&self, jail: &Jail, obs: &Observed, timeout: Duration) -> ApiResult<()> {
        let name = &jail.config.name;
        let Some(st) = obs.st.clone() else { return Ok(()) };
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let request = json!({"op": "stop", "timeout_ms": ms});
        let reply = supervisor::control(&self.store.control(name), &request, timeout + Duration::from_secs(15)).await;
        let asked = match reply.and_then(|r| supervisor::reply_ok(&r)) {
            Ok(()) => {
                fault::point("stop.asked");
                true
            }
            Err(e) => {
                tracing::warn!(jail = %name, error = %e, "the supervisor did not stop the jail: killing it");
                false
            }
        };
        if !(asked && self.wait_supervisor_exit(&st, Duration::from_secs(5)).await) {
            kill_and_wait(&st, true).await;
            // The supervisor's own state is newer than `st` when it got as far as recording.
            let latest = self.observe(name).st.unwrap_or(st);
            tidy_recorded(name, &latest).await;
            self.mark_stopped(name, None).await;
        }
        // The supervisor may have written `stopped` and left: tidy its run directory.
        let after = self.observe(name);
        if after.active() {
            return Err(ApiError::internal(
                "stop the jail",
                format!("jail `{name}` is still {} after the stop", after.state),
            ));
        }
        if after.stale || after.st.as_ref().is_some_and(|s| s.state.is_active()) {
            self.mark_stopped(name, None).await;
        }
        fault::point("stop.stopped");
        self.store.clean_run_dir(name);
        tracing::info!(jail = %name, "stopped");
        Ok(())
    }

    /// `POST /v1/jails/{name}/restart`: a running jail is restarted by its supervisor (a new
    /// init, the same supervisor and console); a stopped one is started.
    pub async fn restart(&self, name: &str, timeout: Duration) -> ApiResult<JailSummary> {
        let (jail, _guard) = self.lock(name).await?;
        let obs = self.reconcile(name).await;
        jail.reset_recovery();
        if !obs.active() {
            return self.start_locked(&jail).await;
        }
        let old_pid = obs.pid();
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let request = json!({"op": "restart", "timeout_ms": ms});
        let reply = supervisor::control(&self.store.control(name), &request, timeout + Duration::from_secs(15)).await;
        match reply.and_then(|r| supervisor::reply_ok(&r)) {
            Ok(()) => {
                // Wait for the new init to run.
                let deadline = Instant::now() + self.settings.start_timeout;
                let mut backoff = Backoff::default();
                loop {
                    let now = self.observe(name);
                    if now.state == RunState::Running && now.pid() != old_pid {
                        tracing::info!(jail = %name, pid = ?now.pid(), "restarted");
                        return Ok(self.summary(&jail, &now));
                    }
                    if !now.active() {
                        let error = now
                            .st
                            .and_then(|s| s.error)
                            .unwrap_or_else(|| format!("jail `{name}` is {}", now.state));
                        return Err(ApiError::invalid("restart the jail", error));
                    }
                    if Instant::now() >= deadline {
                        return Err(ApiError::new(
                            StatusCode::GATEWAY_TIMEOUT,
                            "restart the jail",
                            format!("no new init within {} s", self.settings.start_timeout.as_secs()),
                        ));
                    }
                    backoff.wait().await;
                }
            }
            Err(e) => {
                tracing::warn!(jail = %name, error = %e, "the supervisor did not restart the jail: stop and start");
                self.stop_locked(&jail, &obs, timeout).await?;
                self.start_locked(&jail).await
            }
        }
    }

    /// `DELETE /v1/jails/{name}`.
    pub async fn destroy(&self, name: &str, force: bool) -> ApiResult<()> {
        let (jail, _guard) = self.lock(name).await?;
        let obs = self.reconcile(name).await;
        if obs.active() {
            if !force {
                return Err(
                    ApiError::conflict("destroy the jail", format!("jail `{name}` is {}", obs.state))
                        .hint("stop it first (`jailctl stop`), or `jailctl destroy --force` stops it for you"),
                );
            }
            self.stop_locked(&jail, &obs, DEFAULT_STOP_TIMEOUT).await?;
            fault::point("destroy.stopped");
        }
        let store = self.store.clone();
        let owned = name.to_string();
        blocking(move || store.remove(&owned)).await?.map_err(|e| {
            ApiError::internal(
                "remove the jail's state",
                format!("{}: {e}", self.store.dir(name).display()),
            )
        })?;
        fault::point("destroy.removed");
        if let Some(pool) = self.settings.address_pool.clone() {
            let owned = name.to_string();
            match blocking(move || pool.release(&owned)).await {
                Ok(Ok(freed)) if !freed.is_empty() => tracing::info!(jail = %name, ?freed, "addresses released"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!(jail = %name, error = %e, "cannot release the jail's addresses"),
                Err(e) => tracing::warn!(jail = %name, error = %e, "cannot release the jail's addresses"),
            }
        }
        jail.gone.store(true, Ordering::SeqCst);
        self.registry().jails.remove(name);
        tracing::info!(jail = %name, "destroyed");
        Ok(())
    }

    /// `GET /v1/jails/{name}`.
    pub async fn inspect(&self, name: &str) -> ApiResult<JailInspect> {
        let jail = self.get(name)?;
        let obs = self.observe_or_reconcile(&jail).await;
        let summary = self.summary(&jail, &obs);
        let st = obs.st.clone().filter(|_| obs.active());
        // The policy the init runs under, else what a start would use.
        let running_policy = if st.is_some() {
            std::fs::read(self.store.policy_json(name))
                .ok()
                .and_then(|b| serde_json::from_slice::<Policy>(&b).ok())
        } else {
            None
        };
        let (policy, policy_error) = match running_policy {
            Some(p) => (Some(p), None),
            None => {
                let config = jail.config.clone();
                match blocking(move || resolve_policy(&config)).await? {
                    Ok(p) => (Some(p), None),
                    Err(e) => (None, Some(e.body.error)),
                }
            }
        };
        let pid = st.as_ref().filter(|s| s.init_alive()).and_then(|s| s.pid);
        let status = pid.map(proc_status).unwrap_or_default();
        let field = |k: &str| status.get(k).cloned();
        let mask = policy.as_ref().map(policy::effective_capabilities).unwrap_or_default();
        let capabilities = Capabilities {
            mask: format!("{:#018x}", mask.0),
            names: mask.names(),
            bounding: field("CapBnd"),
            effective: field("CapEff"),
        };
        let seccomp = SeccompStatus {
            mode: field("Seccomp").and_then(|v| v.parse().ok()),
            filters: field("Seccomp_filters").and_then(|v| v.parse().ok()),
            no_new_privs: field("NoNewPrivs").map(|v| v == "1"),
        };
        let read_map = |file: &str| pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/{file}")).ok());
        let normalise = |m: String| {
            m.lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let uid_map = read_map("uid_map")
            .or_else(|| st.as_ref().and_then(|s| s.uid_map.clone()))
            .map(normalise);
        let gid_map = read_map("gid_map").map(normalise);
        let plan_hint = match (&st, &policy, pid) {
            (Some(s), Some(p), Some(pid)) => s.pid_start.map(|pid_start| ExecHint {
                pid,
                pid_start,
                policy: p.clone(),
            }),
            _ => None,
        };
        let last = obs.st.clone();
        Ok(JailInspect {
            summary,
            config: jail.config.clone(),
            policy,
            policy_error,
            pid_start: st.as_ref().and_then(|s| s.pid_start),
            supervisor_pid: st.as_ref().map(|s| s.supervisor_pid),
            started_at: st.as_ref().and_then(|s| s.started_at),
            exit_status: last.as_ref().and_then(|s| s.exit_status),
            error: last.as_ref().and_then(|s| s.error.clone()),
            namespaces: pid.map(namespaces).unwrap_or_default(),
            uid_map,
            gid_map,
            capabilities,
            landlock: st.as_ref().and_then(|s| s.landlock.clone()),
            seccomp,
            control_socket: self.store.control(name).to_string_lossy().into_owned(),
            console_log: self.store.console_log(name).to_string_lossy().into_owned(),
            plan_hint,
        })
    }

    /// At daemon start: every jail whose state says it runs is checked (supervisor pid and start
    /// time); dead ones are finished off and marked stopped. Returns the jails found running.
    pub async fn readopt(&self) -> Vec<String> {
        let mut running = Vec::new();
        for jail in self.all() {
            let name = jail.config.name.clone();
            let _guard = jail.op.clone().lock_owned().await;
            self.reconcile(&name).await;
            let obs = self.recover(&jail).await;
            if obs.active() {
                let st = obs.st.as_ref();
                tracing::info!(
                    jail = %name,
                    state = %obs.state,
                    pid = ?st.and_then(|s| s.pid),
                    supervisor_pid = ?st.map(|s| s.supervisor_pid),
                    "re-adopted a running jail"
                );
                running.push(name);
            }
        }
        self.remove_orphans().await;
        running
    }

    /// Applies the restart policy to `jail` (lock held) if jaild found its supervisor dead: a
    /// supervisor that dies takes its jail with it, which counts as a failure of the jail. At
    /// most `restart.max` (default 5) such restarts in a row.
    async fn recover(&self, jail: &Jail) -> Observed {
        let name = &jail.config.name;
        let policy = jail.config.restart.on_exit;
        if !jail.supervisor_died.swap(false, Ordering::SeqCst) || policy == api::RestartOn::Never {
            return self.observe(name);
        }
        let n = jail.recoveries.fetch_add(1, Ordering::SeqCst) + 1;
        let max = jail.config.restart.max.unwrap_or(DEFAULT_RESTART_MAX);
        if max != 0 && n > max {
            jail.recoveries.store(max, Ordering::SeqCst);
            tracing::error!(jail = %name, max, "the jail's supervisor died again: restart limit reached, left stopped");
            return self.observe(name);
        }
        tracing::warn!(jail = %name, restart = n, %policy, "the jail's supervisor died: restarting the jail");
        match self.start_locked(jail).await {
            Ok(s) => tracing::info!(jail = %name, pid = ?s.pid, "restarted after its supervisor died"),
            Err(e) => tracing::error!(jail = %name, error = %e, "cannot restart the jail after its supervisor died"),
        }
        self.observe(name)
    }

    /// At daemon start, after the jails are loaded: removes run directories and address
    /// leases that belong to no jail (a crash between a destroy's steps leaves them).
    async fn remove_orphans(&self) {
        let known: std::collections::BTreeSet<String> = self.registry().jails.keys().cloned().collect();
        if let Ok(entries) = std::fs::read_dir(&self.store.run) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if !known.contains(&name) {
                    tracing::info!(dir = %entry.path().display(), "removing the run directory of a jail that does not exist");
                    self.store.clean_run_dir(&name);
                }
            }
        }
        let Some(pool) = self.settings.address_pool.clone() else {
            return;
        };
        let leases = match pool.leases() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the address pool");
                return;
            }
        };
        let orphans: std::collections::BTreeSet<String> = leases
            .into_iter()
            .map(|(_, j)| j)
            .filter(|j| !known.contains(j))
            .collect();
        for name in orphans {
            match pool.release(&name) {
                Ok(freed) => {
                    tracing::info!(jail = %name, ?freed, "released the addresses of a jail that does not exist")
                }
                Err(e) => {
                    tracing::warn!(jail = %name, error = %e, "cannot release the addresses of a jail that does not exist")
                }
            }
        }
    }

    /// Starts every autostart jail that is not running, concurrently.
    pub async fn autostart(self: &Arc<Self>) {
        let mut tasks = Vec::new();
        for jail in self.all().into_iter().filter(|j| j.config.autostart) {
            let me = self.clone();
            tasks.push(tokio::spawn(async move {
                let name = jail.config.name.clone();
                let Ok((jail, _guard)) = me.lock(&name).await else {
                    return;
                };
                if me.observe(&name).active() {
                    return;
                }
                match me.start_locked(&jail).await {
                    Ok(s) => tracing::info!(jail = %name, pid = ?s.pid, "autostarted"),
                    Err(e) => tracing::error!(jail = %name, error = %e, "autostart failed"),
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Finishes off jails whose supervisor died while jaild runs (called periodically).
    pub async fn sweep(&self) {
        for jail in self.all() {
            if let Ok(_guard) = jail.op.clone().try_lock_owned()
                && !jail.gone.load(Ordering::SeqCst)
            {
                self.reconcile(&jail.config.name).await;
                self.recover(&jail).await;
            }
        }
    }
}

/// Removes what a jail whose supervisor is gone left on the host, as its state file records it:
/// the host end of its veth (the peer goes with it) and its cgroup (what is left in it is killed
/// first). Call after its init is dead.
async fn tidy_recorded(name: &str, st: &SupervisorState) {
    let (net, cgroup) = (st.net.clone(), st.cgroup.clone());
    if net.is_none() && cgroup.is_none() {
        return;
    }
    let done = blocking(move || {
        let mut errors = Vec::new();
        if let Some(net) = net
            && let Err(e) = libjail::net::teardown_recorded(&net)
        {
            errors.push(format!("remove the jail's veth: {e}"));
        }
        if let Some(paths) = cgroup {
            let cg = libjail::cgroup::Cgroup::open(paths);
            if let Err(e) = cg.kill_all() {
                errors.push(format!("kill what is left in the jail's cgroup: {e}"));
            }
            if let Err(e) = cg.remove() {
                errors.push(format!("remove the jail's cgroup: {e}"));
            }
        }
        errors
    })
    .await;
    match done {
        Ok(errors) => {
            for e in errors {
                tracing::warn!(jail = name, error = %e, "cleanup after a dead supervisor");
            }
        }
        Err(e) => tracing::warn!(jail = name, error = %e, "cleanup after a dead supervisor"),
    }
}

/// Kills what `st` names that is still alive: the init (SIGKILL to pid 1 of the jail's pid
/// namespace takes every jail process with it) and, with `supervisor`, the supervisor; waits
/// until they are gone (at most 5 s). Whether the init had to be killed.
async fn kill_and_wait(st: &SupervisorState, supervisor: bool) -> bool {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let mut killed = false;
    if supervisor && st.supervisor_alive() {
        let _ = kill(Pid::from_raw(st.supervisor_pid), Signal::SIGKILL);
    }
    if st.init_alive()
        && let Some(pid) = st.pid
    {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        killed = true;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut backoff = Backoff::default();
    while (st.init_alive() || (supervisor && st.supervisor_alive())) && Instant::now() < deadline {
        backoff.wait().await;
    }
    killed
}

#[cfg(test)]
mod tests {
    use super::*;
    use libjail::policy::IdMode;

    #[test]
    fn maps_are_described() {
        assert_eq!(
            describe_map("0 2000000000 65536\n").as_deref(),
            Some("2000000000+65536")
        );
        assert_eq!(
            describe_map("         0          0 4294967295\n").as_deref(),
            Some("0+4294967295")
        );
        assert_eq!(describe_map(""), None);
    }

    #[test]
    fn unused_mode_shows() {
        let c = JailConfig {
            name: "a".into(),
            root: "/r".into(),
            policy: None,
            sets: vec![],
            hostname: None,
            ids: Some("passthrough".into()),
            autostart: false,
            command: vec!["/bin/true".into()],
            restart: api::RestartPolicy::default(),
            stop_signal: None,
            created_at: 0,
        };
        assert_eq!(shown(&c, None), ("passthrough".to_string(), "a".to_string()));
        let p = Policy::builtin();
        assert_eq!(shown(&c, Some(&p)).0, IdMode::Isolated.to_string());
    }
}
