//! The daemon: a unix socket serving REST/JSON over HTTP/1.1 (DESIGN §9).
//!
//! Start-up: take the state directory's lock (one jaild per state directory), load every jail,
//! re-adopt the running ones (their supervisors outlived the previous jaild), bind the socket
//! (mode 0660), serve, and start the autostart jails. SIGTERM and SIGINT stop the daemon only:
//! jails keep running under their supervisors.

pub mod auth;
pub mod error;
pub mod fault;
pub mod jails;
pub mod logs;
pub mod routes;
pub mod stats;
pub mod store;
pub mod supervisor;

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use nix::fcntl::{Flock, FlockArg};

use self::auth::Peer;
use self::jails::{Jails, Settings};
use self::store::Store;

/// How the daemon is set up (its command-line flags).
#[derive(Clone, Debug)]
pub struct Options {
    /// The API socket.
    pub socket: PathBuf,
    /// Configs, states and console logs.
    pub state_dir: PathBuf,
    /// Control sockets and resolved policies.
    pub run_dir: PathBuf,
    /// The `jail-init` binary.
    pub jail_init: PathBuf,
    /// The id pool's lock directory.
    pub id_pool_dir: PathBuf,
    /// The id pool's range, `START:SLOTS`.
    pub id_pool: String,
    /// How long a start may take.
    pub start_timeout: Duration,
    /// The address pool of `address: [auto]` (leases under `STATE_DIR/addresses`).
    pub address_pool: Option<libjail::net::AddressPool>,
}

/// How often jaild looks for jails whose supervisor died.
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Takes the state directory's lock: a second jaild on the same state would fight the first.
fn lock_state_dir(state_dir: &Path) -> anyhow::Result<Flock<std::fs::File>> {
    let path = state_dir.join("jaild.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
        anyhow::anyhow!(
            "lock {}: {errno}: another jaild serves this state directory",
            path.display()
        )
    })
}

/// Binds the API socket with mode 0660, replacing a stale socket file (one nobody listens on).
fn bind(socket: &Path) -> anyhow::Result<tokio::net::UnixListener> {
    if let Some(parent) = socket.parent() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .with_context(|| format!("create {}", parent.display()))?;
    }
    match std::fs::symlink_metadata(socket) {
        Ok(m) if m.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(socket).is_ok() {
                bail!("{}: another daemon is listening there", socket.display());
            }
            std::fs::remove_file(socket).with_context(|| format!("remove the stale socket {}", socket.display()))?;
        }
        Ok(_) => bail!("{}: exists and is not a socket", socket.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("stat {}", socket.display())),
    }
    let listener = tokio::net::UnixListener::bind(socket).with_context(|| format!("bind {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("chmod 0660 {}", socket.display()))?;
    Ok(listener)
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        tracing::warn!("cannot install the signal handlers: stop jaild with SIGKILL");
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down (jails keep running)"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down (jails keep running)"),
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(opts: Options) -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!("jaild must run as root");
    }
    let store = Store::open(&opts.state_dir, &opts.run_dir).context("create the state and run directories")?;
    let _lock = lock_state_dir(&opts.state_dir)?;
    if !opts.jail_init.is_file() {
        bail!(
            "the jail-init helper {} does not exist (give its path with --jail-init)",
            opts.jail_init.display()
        );
    }
    let settings = Settings {
        jail_init: opts.jail_init.clone(),
        start_timeout: opts.start_timeout,
        id_pool_dir: opts.id_pool_dir.clone(),
        id_pool: opts.id_pool.clone(),
        address_pool: opts.address_pool.clone(),
    };
    let jails = Arc::new(Jails::new(store, settings));
    let n = jails.load().context("read the state directory")?;
    let running = jails.readopt().await;
    tracing::info!(jails = n, running = running.len(), "state loaded");

    let listener = bind(&opts.socket)?;
    tracing::info!(socket = %opts.socket.display(), state_dir = %opts.state_dir.display(), run_dir = %opts.run_dir.display(), pid = std::process::id(), "jaild listening");

    let starter = jails.clone();
    let autostart = tokio::spawn(async move { starter.autostart().await });
    let sweeper = jails.clone();
    let sweep = tokio::spawn(async move {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            sweeper.sweep().await;
        }
    });

    let app = routes::router(jails.clone()).layer(axum::middleware::from_fn(auth::authorise));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut graceful = stop_rx.clone();
    let serve =
        axum::serve(listener, app.into_make_service_with_connect_info::<Peer>()).with_graceful_shutdown(async move {
            let _ = graceful.changed().await;
        });
    let mut hard = stop_rx;
    let served = tokio::select! {
        r = serve => r,
        // A follower of a log would hold the graceful shutdown forever.
        () = async move {
            let _ = hard.changed().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        } => {
            tracing::warn!("connections still open 5 s after the signal: closing them");
            Ok(())
        }
    };
    sweep.abort();
    autostart.abort();
    let _ = std::fs::remove_file(&opts.socket);
    served.context("serve")?;
    tracing::info!("jaild stopped");
    Ok(())
}
