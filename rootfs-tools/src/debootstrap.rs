//! `jail-rootfs debootstrap`: a Debian root filesystem through Debian's own `debootstrap`, made
//! ready to be a jail.
//!
//! The first run for a suite and variant keeps debootstrap's download as a tarball
//! (`--make-tarball`) in [`DEFAULT_CACHE`]; every run builds from it (`--unpack-tarball`), so a
//! machine downloads each suite once. Then the host-specific files debootstrap leaves are
//! replaced: `/etc/hostname`, `/etc/hosts`, `/etc/resolv.conf` (a static file, not the host's),
//! `/etc/machine-id` (emptied: "not yet set"), ssh host keys and the downloaded `.deb` files.
//! Debian's merged `/usr` (`bin -> usr/bin`) is left as debootstrap made it; every later write
//! resolves inside the tree.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustix::fs::{AtFlags, OFlags};
use serde::Serialize;

use crate::RootfsError;
use crate::at;
use crate::progress;
use crate::tree::{self, Tree};

const TASK: &str = "debootstrap";

/// Where debootstrap tarballs are kept: `SUITE-VARIANT.tgz`.
pub const DEFAULT_CACHE: &str = "/var/cache/jaild/debootstrap";

/// The Debian archive used when no mirror is given.
pub const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// The variant used when none is given: the smallest system that has apt.
pub const DEFAULT_VARIANT: &str = "minbase";

/// How many lines of debootstrap's output an error quotes.
const TAIL: usize = 15;

/// What to build.
#[derive(Debug, Clone)]
pub struct DebootstrapOptions {
    /// The Debian suite: `bookworm`, `trixie`, `stable`, ...
    pub suite: String,
    /// The rootfs directory; created when missing, must be empty.
    pub dir: PathBuf,
    /// debootstrap's `--variant` (`minbase`, `buildd`, or `-` for debootstrap's default).
    pub variant: String,
    /// The archive; [`DEFAULT_MIRROR`] when `None`.
    pub mirror: Option<String>,
    /// Extra packages (`--include`).
    pub include: Vec<String>,
    /// Where tarballs are cached; `None` to use no cache.
    pub cache: Option<PathBuf>,
    /// The jail's hostname, written to `/etc/hostname` and `/etc/hosts`.
    pub hostname: String,
    /// Name servers for the static `/etc/resolv.conf` (none: a file that says where to add them).
    pub nameservers: Vec<String>,
    /// Show a spinner with debootstrap's progress on a terminal.
    pub progress: bool,
}

impl DebootstrapOptions {
    /// Defaults for `suite` into `dir`: minbase, the Debian mirror, the cache, hostname `jail`.
    pub fn new(suite: &str, dir: &Path) -> DebootstrapOptions {
        DebootstrapOptions {
            suite: suite.to_string(),
            dir: dir.to_path_buf(),
            variant: DEFAULT_VARIANT.to_string(),
            mirror: None,
            include: Vec::new(),
            cache: Some(PathBuf::from(DEFAULT_CACHE)),
            hostname: "jail".to_string(),
            nameservers: Vec::new(),
            progress: false,
        }
    }
}

/// What was built.
#[derive(Debug, Clone, Serialize)]
pub struct DebootstrapReport {
    /// The rootfs, absolute.
    pub dir: PathBuf,
    pub suite: String,
    pub variant: String,
    pub mirror: String,
    pub include: Vec<String>,
    /// The cached tarball used (or made).
    pub tarball: Option<PathBuf>,
    /// Whether the tarball was there already (nothing downloaded).
    pub cached: bool,
    /// Host-specific files removed or replaced (relative paths; the downloaded packages as one
    /// `*.deb` line with their count).
    pub cleaned: Vec<PathBuf>,
    pub seconds: f64,
}

/// Builds a Debian rootfs as `opts` says.
pub fn build(opts: &DebootstrapOptions) -> Result<DebootstrapReport, RootfsError> {
    let started = Instant::now();
    validate(opts)?;
    let mirror = opts.mirror.clone().unwrap_or_else(|| DEFAULT_MIRROR.to_string());
    let debootstrap = ensure_debootstrap()?;

    // The target: made without following a symlink, and empty.
    let (tree_handle, _) = Tree::open(TASK, &opts.dir, 0o755)?;
    let dir = tree_handle.path(Path::new(""));
    if !tree_handle.is_empty()? {
        return Err(RootfsError::NotEmpty { task: TASK, path: dir });
    }
    drop(tree_handle);

    let mut common: Vec<String> = Vec::new();
    if opts.variant != "-" {
        common.push(format!("--variant={}", opts.variant));
    }
    if !opts.include.is_empty() {
        common.push(format!("--include={}", opts.include.join(",")));
    }

    let (tarball, cached) = match &opts.cache {
        None => {
            let mut args = common.clone();
            args.extend([opts.suite.clone(), dir.display().to_string(), mirror.clone()]);
            run(&debootstrap, &args, opts.progress, "debootstrap")?;
            (None, false)
        }
        Some(cache) => {
            let name = tarball_name(opts);
            let tarball = cache.join(&name);
            let cached = tarball.is_file();
            if !cached {
                make_tarball(&debootstrap, &common, opts, &mirror, cache, &name)?;
            }
            let mut args = common.clone();
            args.push(format!("--unpack-tarball={}", tarball.display()));
            args.extend([opts.suite.clone(), dir.display().to_string(), mirror.clone()]);
            run(&debootstrap, &args, opts.progress, "installing")?;
            (Some(tarball), cached)
        }
    };

    let cleaned = make_jail_ready(&dir, opts)?;
    Ok(DebootstrapReport {
        dir,
        suite: opts.suite.clone(),
        variant: opts.variant.clone(),
        mirror,
        include: opts.include.clone(),
        tarball,
        cached,
        cleaned,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// `SUITE-VARIANT.tgz`, with `+PKG...` for extra packages (they change the download).
pub fn tarball_name(opts: &DebootstrapOptions) -> String {
    let mut name = format!(
        "{}-{}",
        opts.suite,
        if opts.variant == "-" { "default" } else { &opts.variant }
    );
    let mut include = opts.include.clone();
    include.sort();
    for pkg in include {
        name.push('+');
        name.push_str(&pkg);
    }
    name.push_str(".tgz");
    name
}

fn validate(opts: &DebootstrapOptions) -> Result<(), RootfsError> {
    let usage = |reason: String| RootfsError::Usage { task: TASK, reason };
    let word = |s: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
    };
    if !word(&opts.suite) {
        return Err(usage(format!("bad suite name `{}`", opts.suite)));
    }
    if opts.variant != "-" && !word(&opts.variant) {
        return Err(usage(format!("bad variant `{}`", opts.variant)));
    }
    if let Some(pkg) = opts.include.iter().find(|p| !word(p)) {
        return Err(usage(format!("bad package name `{pkg}`")));
    }
    if let Some(mirror) = &opts.mirror
        && !(mirror.starts_with("http://") || mirror.starts_with("https://") || mirror.starts_with("file:/"))
    {
        return Err(usage(format!("the mirror `{mirror}` is not an http(s) or file URL")));
    }
    let host_ok = !opts.hostname.is_empty()
        && opts.hostname.len() <= 64
        && opts
            .hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.'));
    if !host_ok {
        return Err(usage(format!("bad hostname `{}`", opts.hostname)));
    }
    if let Some(ns) = opts.nameservers.iter().find(|n| n.parse::<std::net::IpAddr>().is_err()) {
        return Err(usage(format!("name server `{ns}` is not an IP address")));
    }
    Ok(())
}

/// The debootstrap program, installed with apt-get when missing.
fn ensure_debootstrap() -> Result<PathBuf, RootfsError> {
    let find = || {
        ["/usr/sbin/debootstrap", "/usr/bin/debootstrap"]
            .map(PathBuf::from)
            .into_iter()
            .find(|p| p.is_file())
    };
    if let Some(path) = find() {
        return Ok(path);
    }
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "debootstrap"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
    };
    let apt_err = |error| RootfsError::Io {
        task: TASK,
        step: "run",
        path: "apt-get".into(),
        error,
    };
    let mut out = install().map_err(apt_err)?;
    if !out.status.success() {
        // Stale package lists: update once and try again.
        let _ = Command::new("apt-get").args(["update", "-qq"]).output();
        out = install().map_err(apt_err)?;
    }
    if !out.status.success() {
        return Err(RootfsError::Command {
            task: TASK,
            program: "apt-get install debootstrap".into(),
            status: out.status,
            output: tail_lines(&String::from_utf8_lossy(&out.stderr)),
        });
    }
    find().ok_or_else(|| RootfsError::Usage {
        task: TASK,
        reason: "apt-get installed debootstrap, but it is not in /usr/sbin".into(),
    })
}

fn tail_lines(text: &str) -> Vec<String> {
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[lines.len().saturating_sub(TAIL)..].to_vec()
}

/// Downloads into a work directory beside the cache and keeps the tarball (renamed into place,
/// so a failed run leaves none).
fn make_tarball(
    debootstrap: &Path,
    common: &[String],
    opts: &DebootstrapOptions,
    mirror: &str,
    cache: &Path,
    name: &str,
) -> Result<(), RootfsError> {
    // The cache directory: made without following symlinks; readable by root only.
    let (_, cache, _) = tree::open_root(TASK, cache, 0o700)?;
    let pid = std::process::id();
    let work = cache.join(format!(".work-{pid}"));
    let partial = cache.join(format!(".{name}.{pid}"));
    let mut args = common.to_vec();
    args.push(format!("--make-tarball={}", partial.display()));
    args.extend([opts.suite.clone(), work.display().to_string(), mirror.to_string()]);
    let result = run(debootstrap, &args, opts.progress, "downloading");
    let _ = std::fs::remove_dir_all(&work);
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    std::fs::rename(&partial, cache.join(name)).map_err(|error| RootfsError::Io {
        task: TASK,
        step: "rename",
        path: partial.clone(),
        error,
    })
}

/// Runs debootstrap with `args`, showing its `I:` lines on a spinner; an error quotes its last
/// lines.
fn run(debootstrap: &Path, args: &[String], show: bool, phase: &str) -> Result<(), RootfsError> {
    let bar = progress::spinner(show, phase);
    let mut child = Command::new(debootstrap)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| RootfsError::Io {
            task: TASK,
            step: "run",
            path: debootstrap.to_path_buf(),
            error,
        })?;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut readers = Vec::new();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let lines = Arc::clone(&lines);
        let bar = bar.clone();
        let phase = phase.to_string();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                if let Some(info) = line.strip_prefix("I: ") {
                    bar.set_message(format!("{phase}: {info}"));
                }
                let mut lines = lines.lock().unwrap_or_else(|p| p.into_inner());
                lines.push(line);
                if lines.len() > 4 * TAIL {
                    lines.drain(..2 * TAIL);
                }
            }
        }));
    }
    let status = child.wait().map_err(|error| RootfsError::Io {
        task: TASK,
        step: "wait for",
        path: debootstrap.to_path_buf(),
        error,
    })?;
    for reader in readers {
        let _ = reader.join();
    }
    bar.finish_and_clear();
    if status.success() {
        return Ok(());
    }
    let lines = lines.lock().unwrap_or_else(|p| p.into_inner());
    Err(RootfsError::Command {
        task: TASK,
        program: format!("debootstrap {}", args.join(" ")),
        status,
        output: lines[lines.len().saturating_sub(TAIL)..].to_vec(),
    })
}

/// Replaces what debootstrap copied from the host or made for it. Returns what was cleaned.
fn make_jail_ready(dir: &Path, opts: &DebootstrapOptions) -> Result<Vec<PathBuf>, RootfsError> {
    let (mut tree, _) = Tree::open(TASK, dir, 0o755)?;
    let mut cleaned = Vec::new();
    let hostname = format!("{}\n", opts.hostname);
    let short = opts.hostname.split('.').next().unwrap_or(&opts.hostname);
    let hosts = format!(
        "127.0.0.1\tlocalhost\n127.0.1.1\t{}{}\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
        opts.hostname,
        if short != opts.hostname {
            format!(" {short}")
        } else {
            String::new()
        }
    );
    let mut resolv = String::from("# Static resolver configuration written by jail-rootfs (not the host's).\n");
    if opts.nameservers.is_empty() {
        resolv.push_str("# Add this jail's name servers here, one `nameserver ADDRESS` line each.\n");
    }
    for ns in &opts.nameservers {
        resolv.push_str(&format!("nameserver {ns}\n"));
    }
    for (path, mode, contents) in [
        ("etc/hostname", 0o644, hostname.as_str()),
        ("etc/hosts", 0o644, hosts.as_str()),
        ("etc/resolv.conf", 0o644, resolv.as_str()),
        // Empty: "not yet set", filled at first boot by whatever needs one.
        ("etc/machine-id", 0o444, ""),
    ] {
        tree.write_file(Path::new(path), mode, 0, 0, &mut contents.as_bytes())?;
        cleaned.push(PathBuf::from(path));
    }
    let root = tree.root_fd();
    type Keep<'k> = &'k dyn Fn(&OsStr, rustix::fs::FileType) -> bool;
    let remove = |dir: &str, keep: Keep<'_>, cleaned: &mut Vec<PathBuf>| -> Result<(), RootfsError> {
        let Ok(fd) = at::resolve(root, Path::new(dir), OFlags::RDONLY | OFlags::DIRECTORY) else {
            return Ok(());
        };
        let io_err = |step, name: &OsStr, error: std::io::Error| RootfsError::Io {
            task: TASK,
            step,
            path: tree.path(&Path::new(dir).join(name)),
            error,
        };
        for name in at::list(fd.as_fd()).map_err(|e| io_err("list", OsStr::new(""), e))? {
            let st = at::lstat(fd.as_fd(), &name).map_err(|e| io_err("stat", &name, e))?;
            let file_type = at::file_type(&st);
            if file_type == rustix::fs::FileType::Directory || keep(&name, file_type) {
                continue;
            }
            rustix::fs::unlinkat(fd.as_fd(), &name, AtFlags::empty()).map_err(|e| io_err("remove", &name, e.into()))?;
            cleaned.push(Path::new(dir).join(name));
        }
        Ok(())
    };
    // ssh host keys, should a package have made them: each jail must make its own.
    remove("etc/ssh", &|n, _| !n.as_bytes().starts_with(b"ssh_host_"), &mut cleaned)?;
    // The downloaded packages: installed already, and the same in every jail.
    let mut debs = Vec::new();
    remove(
        "var/cache/apt/archives",
        &|n, _| !n.as_bytes().ends_with(b".deb"),
        &mut debs,
    )?;
    if !debs.is_empty() {
        cleaned.push(PathBuf::from(format!(
            "var/cache/apt/archives/*.deb ({} files)",
            debs.len()
        )));
    }
    // D-Bus's own copy of the host's machine id (a symlink to /etc/machine-id is fine as it is).
    remove(
        "var/lib/dbus",
        &|n, t| n.as_bytes() != b"machine-id" || t != rustix::fs::FileType::RegularFile,
        &mut cleaned,
    )?;
    Ok(cleaned)
}
