//! jaild: the root daemon that keeps jails (DESIGN §9). Thin: parse the flags, set up logging,
//! run [`jaild::daemon::run`].

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use libjail::idmap::IdPool;

/// The jaild daemon: REST/JSON over HTTP/1.1 on a unix socket (docs/api.md).
///
/// Jails outlive the daemon: each runs under its own supervisor (`jail-init supervise`), and a
/// restarted jaild finds the running ones again.
#[derive(Debug, Parser)]
#[command(name = "jaild", version, about)]
struct Args {
    /// The API socket (mode 0660; only root is served).
    #[arg(long, value_name = "PATH", default_value = jaild::api::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Jail configs, states and console logs.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/jaild")]
    state_dir: PathBuf,
    /// Runtime files: control sockets, resolved policies.
    #[arg(long, value_name = "DIR", default_value = "/run/jaild")]
    run_dir: PathBuf,
    /// Log filter: error, warn, info, debug, trace, or a tracing directive list.
    #[arg(long, value_name = "LEVEL", default_value = "info", env = "JAILD_LOG")]
    log_level: String,
    /// The jail-init helper (default: `jail-init` beside this binary).
    #[arg(long, value_name = "PATH")]
    jail_init: Option<PathBuf>,
    /// The id pool of isolated jails, `START:SLOTS` (slots of 65536 ids; default from
    /// JAILD_ID_POOL, else 2000000000:1024).
    #[arg(long, value_name = "START:SLOTS")]
    id_pool: Option<String>,
    /// The id pool's lock directory (default from JAILD_ID_POOL_DIR, else /run/jaild/idpool).
    #[arg(long, value_name = "DIR")]
    id_pool_dir: Option<PathBuf>,
    /// The address pool of `address: [auto]` jails, as a CIDR (`10.99.0.0/24`; its first address
    /// is the gateway). Leases live in STATE_DIR/addresses; static addresses in the pool are
    /// registered there too. Without it, `address: [auto]` cannot start.
    #[arg(long, value_name = "CIDR")]
    address_pool: Option<String>,
    /// How long a jail may take to start before jaild gives up on it, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    start_timeout: u64,
}

fn absolute(p: PathBuf) -> anyhow::Result<PathBuf> {
    std::path::absolute(&p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

fn options(args: Args) -> anyhow::Result<jaild::daemon::Options> {
    let jail_init = match args.jail_init {
        Some(p) => absolute(p)?,
        None => std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("find jaild's own path: {e}"))?
            .with_file_name("jail-init"),
    };
    let mut pool = IdPool::from_env().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(range) = &args.id_pool {
        let (start, slots) = range
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("--id-pool {range}: expected START:SLOTS"))?;
        let start = start
            .parse()
            .map_err(|_| anyhow::anyhow!("--id-pool {range}: bad START"))?;
        let slots = slots
            .parse()
            .map_err(|_| anyhow::anyhow!("--id-pool {range}: bad SLOTS"))?;
        pool = IdPool::new(pool.dir, start, slots).map_err(|e| anyhow::anyhow!("--id-pool {range}: {e}"))?;
    }
    if let Some(dir) = args.id_pool_dir {
        pool.dir = absolute(dir)?;
    }
    let state_dir = absolute(args.state_dir)?;
    let address_pool = match &args.address_pool {
        Some(cidr) => {
            let net = cidr
                .parse::<libjail::net::IpNet>()
                .map_err(|e| anyhow::anyhow!("--address-pool {cidr}: {e}"))?;
            Some(
                libjail::net::AddressPool::new(net, state_dir.join("addresses"))
                    .map_err(|e| anyhow::anyhow!("--address-pool {cidr}: {e}"))?,
            )
        }
        None => None,
    };
    Ok(jaild::daemon::Options {
        socket: absolute(args.socket)?,
        state_dir,
        address_pool,
        run_dir: absolute(args.run_dir)?,
        jail_init,
        id_pool: format!("{}:{}", pool.start, pool.slots),
        id_pool_dir: pool.dir,
        start_timeout: Duration::from_secs(args.start_timeout.max(1)),
    })
}

fn main() {
    // jaild allocates little and rarely; one arena keeps its footprint to what it holds (the
    // blocking pool's short-lived threads would each get an arena). MALLOC_ARENA_MAX overrides.
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        libjail::sys::limit_malloc_arenas(1);
    }
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level).unwrap_or_else(|e| {
        eprintln!("jaild: --log-level {}: {e}; using info", args.log_level);
        tracing_subscriber::EnvFilter::new("info")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let code = match options(args).and_then(|opts| {
        // One event-loop thread: requests are short and every slow step (fsync, policy
        // resolution) goes to the blocking pool; it answers faster than a multi-thread runtime.
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("jaild")
            .build()
            .map_err(|e| anyhow::anyhow!("start the runtime: {e}"))?
            .block_on(jaild::daemon::run(opts))
    }) {
        Ok(()) => 0,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("jaild: {e:#}");
            1
        }
    };
    #[allow(clippy::exit)]
    std::process::exit(code);
}
