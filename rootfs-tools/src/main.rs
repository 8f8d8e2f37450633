//! `jail-rootfs`: build, unpack, shift and check jail root filesystems (thin front end).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use rootfs_tools::busybox::{self, BusyboxOptions, BusyboxReport};
use rootfs_tools::check::{self, CheckOptions, CheckReport, Idmap, Parents};
use rootfs_tools::debootstrap::{self, DebootstrapOptions, DebootstrapReport};
use rootfs_tools::ids::{IdShift, IdsMode};
use rootfs_tools::shift::{self, ShiftOptions, ShiftReport};
use rootfs_tools::unpack::{self, UnpackOptions, UnpackReport};

#[derive(Debug, Parser)]
#[command(
    name = "jail-rootfs",
    version,
    about = "Build, unpack, shift and check jail root filesystems"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a minimal rootfs from the host's statically linked busybox.
    Busybox(BusyboxArgs),
    /// Build a Debian rootfs with debootstrap (installed when missing), ready to be a jail.
    Debootstrap(DebootstrapArgs),
    /// Unpack a tarball (tar, tar.gz, tar.xz, tar.zst) or an OCI image layout into a rootfs.
    Unpack(UnpackArgs),
    /// Move a tree's owners by an offset into a jail's id range (shifted id mode), or back.
    Shift(ShiftArgs),
    /// Report whether a tree can serve as a jail's root in an id mode (exit 1 when not).
    Check(CheckArgs),
}

#[derive(Debug, Args)]
struct BusyboxArgs {
    /// The rootfs directory to create (must be missing or empty unless --force).
    dir: PathBuf,
    /// Build over a non-empty directory: replace the files and links it writes, delete nothing else.
    #[arg(long)]
    force: bool,
    /// The static busybox to copy [default: the first static one of /bin/busybox, /usr/bin/busybox].
    #[arg(long, value_name = "PATH")]
    busybox: Option<PathBuf>,
    /// Print a JSON report {dir, busybox, applets, bytes} instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct DebootstrapArgs {
    /// The Debian suite: bookworm, trixie, stable, ...
    suite: String,
    /// The rootfs directory to create (must be missing or empty).
    dir: PathBuf,
    /// debootstrap's variant (minbase, buildd, or - for debootstrap's default).
    #[arg(long, default_value = debootstrap::DEFAULT_VARIANT)]
    variant: String,
    /// The Debian archive.
    #[arg(long, value_name = "URL", default_value = debootstrap::DEFAULT_MIRROR)]
    mirror: String,
    /// Extra packages, comma-separated (e.g. adduser).
    #[arg(long, value_name = "PKG,...", value_delimiter = ',')]
    include: Vec<String>,
    /// The jail's hostname, for /etc/hostname and /etc/hosts.
    #[arg(long, default_value = "jail")]
    hostname: String,
    /// A name server for the static /etc/resolv.conf (repeat for more).
    #[arg(long, value_name = "IP")]
    nameserver: Vec<String>,
    /// Where debootstrap tarballs are cached.
    #[arg(long, value_name = "DIR", default_value = debootstrap::DEFAULT_CACHE)]
    cache_dir: PathBuf,
    /// Download everything again and keep no tarball.
    #[arg(long)]
    no_cache: bool,
    /// Print a JSON report instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct UnpackArgs {
    /// A tarball (tar, tar.gz, tar.xz, tar.zst) or an OCI image layout directory.
    source: PathBuf,
    /// The rootfs directory (created when missing).
    dir: PathBuf,
    /// Unpack into a temporary directory beside DIR and rename it at the end (DIR must be
    /// missing or empty); nothing is left on failure.
    #[arg(long)]
    atomic: bool,
    /// Make device nodes (they are skipped and reported otherwise).
    #[arg(long)]
    devices: bool,
    /// Shift owners from FROM.. to TO.. (COUNT ids) as they are written, e.g. 0:100000:65536.
    #[arg(long, value_name = "FROM:TO:COUNT")]
    shift: Option<IdShift>,
    /// For a layout with several images: the org.opencontainers.image.ref.name to unpack.
    #[arg(long = "ref", value_name = "NAME")]
    reference: Option<String>,
    /// Print a JSON report instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct ShiftArgs {
    /// The tree to shift.
    dir: PathBuf,
    /// First id of the source range.
    #[arg(long, default_value_t = 0)]
    from: u32,
    /// First id of the target range.
    #[arg(long)]
    to: u32,
    /// How many ids to move.
    #[arg(long, default_value_t = 65536)]
    count: u32,
    /// Undo the shift: move ids from TO.. back to FROM..
    #[arg(long)]
    reverse: bool,
    /// Report what would change, change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Shift even though the tree's top looks shifted already (the marker is still obeyed).
    #[arg(long)]
    force: bool,
    /// Print a JSON report instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct CheckArgs {
    /// The tree to check.
    dir: PathBuf,
    /// The id mode: isolated, passthrough, shifted:BASE or a map INSIDE:OUTSIDE:COUNT[,...].
    #[arg(long, value_name = "MODE|MAP", default_value = "isolated")]
    ids: IdsMode,
    /// Print a JSON report instead of a summary.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("jail-rootfs: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Busybox(args) => {
            let report = busybox::build(&BusyboxOptions {
                dir: args.dir,
                force: args.force,
                busybox: args.busybox,
            })?;
            print(args.json, &report, summary)?;
        }
        Command::Debootstrap(args) => {
            let report = debootstrap::build(&DebootstrapOptions {
                suite: args.suite,
                dir: args.dir,
                variant: args.variant,
                mirror: Some(args.mirror),
                include: args.include,
                cache: (!args.no_cache).then_some(args.cache_dir),
                hostname: args.hostname,
                nameservers: args.nameserver,
                progress: !args.json,
            })?;
            print(args.json, &report, debootstrap_summary)?;
        }
        Command::Unpack(args) => {
            let report = unpack::unpack(
                &args.source,
                &args.dir,
                &UnpackOptions {
                    atomic: args.atomic,
                    devices: args.devices,
                    shift: args.shift,
                    reference: args.reference,
                    progress: true,
                },
            )?;
            print(args.json, &report, unpack_summary)?;
        }
        Command::Shift(args) => {
            let report = shift::shift(
                &args.dir,
                &ShiftOptions {
                    shift: IdShift::new(args.from, args.to, args.count)?,
                    reverse: args.reverse,
                    dry_run: args.dry_run,
                    force: args.force,
                    progress: true,
                },
            )?;
            print(args.json, &report, shift_summary)?;
        }
        Command::Check(args) => {
            let report = check::check(
                &args.dir,
                &CheckOptions {
                    mode: args.ids,
                    progress: true,
                },
            )?;
            print(args.json, &report, check_summary)?;
            if !report.ok() {
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as one line of JSON, or the summary.
fn print<T: serde::Serialize>(json: bool, report: &T, summary: fn(&T) -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(report)?);
    } else {
        println!("{}", summary(report));
    }
    Ok(())
}

/// How many notes a summary lists before "... and N more".
const SHOWN: usize = 20;

fn listed<T>(out: &mut String, title: &str, items: &[T], line: impl Fn(&T) -> String) {
    if items.is_empty() {
        return;
    }
    out.push_str(&format!("\n{title} ({}):", items.len()));
    for item in items.iter().take(SHOWN) {
        out.push_str(&format!("\n  {}", line(item)));
    }
    if items.len() > SHOWN {
        out.push_str(&format!(
            "\n  ... and {} more (--json lists them all)",
            items.len() - SHOWN
        ));
    }
}

fn debootstrap_summary(r: &DebootstrapReport) -> String {
    format!(
        "built {} from Debian {} ({}{}) in {:.0} s{}",
        r.dir.display(),
        r.suite,
        r.variant,
        if r.include.is_empty() {
            String::new()
        } else {
            format!(" + {}", r.include.join(","))
        },
        r.seconds,
        match &r.tarball {
            Some(t) if r.cached => format!("; from the cached {}", t.display()),
            Some(t) => format!("; downloaded and cached as {}", t.display()),
            None => String::new(),
        }
    )
}

fn unpack_summary(r: &UnpackReport) -> String {
    let mut out = format!(
        "unpacked {} ({}{}) into {}: {} entries, {} files, {} dirs, {} symlinks, {} hardlinks, {}",
        r.source.display(),
        r.format,
        if r.format == "oci" {
            format!(", {} layers, {} whiteouts", r.layers, r.whiteouts)
        } else {
            String::new()
        },
        r.dir.display(),
        r.entries,
        r.files,
        r.dirs,
        r.symlinks,
        r.hardlinks,
        human_size(r.bytes)
    );
    listed(&mut out, "skipped", &r.skipped, |n| format!("{}: {}", n.path, n.reason));
    listed(&mut out, "adjusted", &r.adjusted, |n| {
        format!("{}: {}", n.path, n.reason)
    });
    listed(&mut out, "setuid/setgid files (kept)", &r.setuid, |p| p.clone());
    if let Some(u) = r.unshifted.as_ref().filter(|u| u.entries > 0) {
        out.push_str(&format!(
            "\n{} entries keep ids outside the shift range: {}",
            u.entries,
            ranges_text(&u.ids)
        ));
    }
    out
}

fn shift_summary(r: &ShiftReport) -> String {
    let mut out = format!(
        "{} {} {}:{}:{}{}: {} entries, {} changed, {} setuid/setgid restored, {} capabilities, {} ACLs, {} extra hardlinks in {:.2} s",
        if r.dry_run { "would shift" } else { "shifted" },
        r.dir.display(),
        r.from,
        r.to,
        r.count,
        if r.resumed { " (resumed)" } else { "" },
        r.entries,
        r.changed,
        r.setuid_restored,
        r.capabilities,
        r.acls,
        r.hardlinks,
        r.seconds
    );
    if r.outside.entries > 0 {
        out.push_str(&format!(
            "\n{} entries have ids outside {}..{}, left alone: {}",
            r.outside.entries,
            r.from,
            u64::from(r.from) + u64::from(r.count) - 1,
            ranges_text(&r.outside.ids)
        ));
        listed(&mut out, "for example", &r.outside.examples, |p| {
            format!("/{}", p.display())
        });
    }
    listed(&mut out, "other mounts, not entered", &r.other_mounts, |p| {
        format!("/{}", p.display())
    });
    out
}

fn check_summary(r: &CheckReport) -> String {
    let mut out = format!("{} for id mode {}: {} entries", r.dir.display(), r.mode, r.entries);
    out.push_str(&format!("\n  uids: {}", ranges_text(&r.uids)));
    out.push_str(&format!("\n  gids: {}", ranges_text(&r.gids)));
    if let Some(marker) = &r.shift_marker {
        out.push_str(&format!("\n  {marker}"));
    }
    out.push_str(&format!(
        "\n  idmapped mounts: {}",
        match &r.idmapped_mounts {
            Idmap::Supported => "supported".to_string(),
            Idmap::Unsupported(why) => format!("not supported ({why})"),
            Idmap::Unknown(why) => format!("unknown ({why})"),
        }
    ));
    out.push_str(&format!(
        "\n  parent directories: {}",
        match &r.parents {
            Parents::Private => "keep non-root host users out".to_string(),
            Parents::Refused(_) => "let non-root host users reach the tree (or the path has a symlink)".to_string(),
        }
    ));
    let paths = |f: &check::Found| f.paths.iter().map(|p| format!("/{}", p.display())).collect::<Vec<_>>();
    listed(&mut out, "outside the mode's id range", &paths(&r.outside), |p| {
        p.clone()
    });
    listed(&mut out, "setuid", &paths(&r.setuid), |p| p.clone());
    listed(&mut out, "setgid", &paths(&r.setgid), |p| p.clone());
    listed(&mut out, "file capabilities", &r.capabilities, |c| {
        format!(
            "/{} (permitted {:#x}{})",
            c.path.display(),
            c.permitted,
            c.rootid.map(|r| format!(", root id {r}")).unwrap_or_default()
        )
    });
    listed(&mut out, "device nodes", &r.devices, |d| {
        format!("/{} ({} {}:{})", d.path.display(), d.kind, d.major, d.minor)
    });
    listed(
        &mut out,
        "world-writable directories without the sticky bit",
        &paths(&r.world_writable),
        |p| p.clone(),
    );
    listed(&mut out, "warnings", &r.warnings, |w| w.clone());
    if r.ok() {
        out.push_str(&format!("\nok: the tree can serve id mode {}", r.mode));
    } else {
        listed(&mut out, "problems", &r.problems, |p| p.clone());
        out.push_str(&format!("\nthe tree cannot serve id mode {}", r.mode));
    }
    out
}

fn ranges_text(ranges: &[rootfs_tools::ids::IdRange]) -> String {
    if ranges.is_empty() {
        return "none".into();
    }
    ranges
        .iter()
        .map(|r| {
            if r.first == r.last {
                format!("{} ({})", r.first, r.entries)
            } else {
                format!("{}-{} ({})", r.first, r.last, r.entries)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// "built /r from /bin/busybox: 268 applets linked, 2.1 MiB".
fn summary(report: &BusyboxReport) -> String {
    format!(
        "built {} from {}: {} applets linked, {}",
        report.dir.display(),
        report.busybox.display(),
        report.applets,
        human_size(report.bytes)
    )
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{size:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(2 * 1024 * 1024 + 100 * 1024), "2.1 MiB");
    }
}
