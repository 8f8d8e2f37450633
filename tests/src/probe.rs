//! `jail-probe`: runs inside a jail and attempts, from within, what DESIGN §6 says a jail must not
//! be able to do.
//!
//! Each attack subcommand prints one line per attempt — `BLOCKED <attempt>: <errno or detail>`
//! when it failed as it should, `ESCAPED <attempt>: <detail>` when it worked, and `NOTE ...` for
//! context — and exits 0 iff nothing escaped, 1 otherwise, 2 on a usage error. `status` prints the
//! process's confinement as JSON; `caps-admin` prints `ALLOWED`/`DENIED` lines and always exits 0.
//! `sockets` and `personality` add `ALLOWED`/`DENIED` lines to their `BLOCKED` ones: the controls
//! (what a jail keeps), which must work for the test to pass.
//!
//! Nothing here does real harm when an attack works: sysctls are written back with the value just
//! read, sysrq-trigger is opened but never written, module and kexec calls carry invalid images or
//! flags, and whatever the probe mounts it unmounts.
//!
//! The binary is linked statically (see `.cargo/config.toml`): it runs in a busybox rootfs.

#[path = "probe/escape.rs"]
mod escape;
#[path = "probe/kernel.rs"]
mod kernel;
#[path = "probe/mounts.rs"]
mod mounts;
#[path = "probe/procfs.rs"]
mod procfs;
#[path = "probe/report.rs"]
mod report;
#[path = "probe/runtime.rs"]
mod runtime;
#[path = "probe/status.rs"]
mod status;
#[path = "probe/surface.rs"]
mod surface;
#[path = "probe/sys.rs"]
mod sys;
#[path = "probe/tty.rs"]
mod tty;

const USAGE: &str = "usage: jail-probe SUBCOMMAND [ARG]
  status                  confinement as JSON
  proc-sys                write /proc/sys files back, open sysrq-trigger for writing
  masked-reads            read kcore, keys, timer_list, sched_debug, kmsg, /sys/firmware, acpi, scsi
  fresh-mounts            mount a fresh proc and sysfs (mount(2) and fsopen/fsmount)
  mask-mounts             unmount, remount and overmount the masks
  mknod                   create and open device nodes
  kernel-calls            modules, kexec, bpf, perf, keyrings, userfaultfd, io_uring, clock, ...
  open-by-handle          name_to_handle_at / open_by_handle_at (shocker)
  tiocsti                 TIOCSTI and TIOCLINUX, with and without high bits
  fds                     descriptors beyond stdio, or pointing outside the jail
  proc-root               /proc/PID/root and /proc/PID/cwd outside the jail; visible pids
  chroot-escape [MARKER]  chroot-in-chroot escape; MARKER is a host path that must stay invisible
  userns                  unshare/clone/clone3 with CLONE_NEWUSER
  loopback PORT           TCP connect to 127.0.0.1:PORT and [::1]:PORT
  caps-admin              ALLOWED/DENIED: sethostname, bring up lo, mount a tmpfs
  sockets                 socket families beyond unix/inet/inet6/netlink (AF_ALG, AF_PACKET, ...)
                          refused with EPERM; ALLOWED lines for those four
  personality             personas beyond the default refused; ALLOWED lines for the kept ones
  runtime-exe             /proc/1/exe, environ, mem, fds, ptrace of the runtime's reaper (--init)
  host-signals [HOSTPID]  kill(pid, 0) reaches only jail processes; HOSTPID (a host pid) is ESRCH";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = args.get(1).map(String::as_str);
    let code = match args.first().map(String::as_str) {
        Some("status") => status::run(),
        Some("proc-sys") => procfs::proc_sys(),
        Some("masked-reads") => procfs::masked_reads(),
        Some("fresh-mounts") => mounts::fresh_mounts(),
        Some("mask-mounts") => mounts::mask_mounts(),
        Some("mknod") => kernel::mknod(),
        Some("kernel-calls") => kernel::kernel_calls(),
        Some("open-by-handle") => kernel::open_by_handle(),
        Some("tiocsti") => tty::tiocsti(),
        Some("fds") => procfs::fds(),
        Some("proc-root") => procfs::proc_root(),
        Some("chroot-escape") => escape::chroot_escape(arg),
        Some("userns") => kernel::userns(),
        Some("loopback") => match arg.map(str::parse::<u16>) {
            Some(Ok(port)) => escape::loopback(port),
            _ => usage("loopback needs a PORT"),
        },
        Some("caps-admin") => mounts::caps_admin(),
        Some("sockets") => surface::sockets(),
        Some("personality") => surface::personality(),
        Some("runtime-exe") => runtime::runtime_exe(),
        Some("host-signals") => match arg.map(str::parse::<i32>) {
            None => runtime::host_signals(None),
            Some(Ok(pid)) if pid > 0 => runtime::host_signals(Some(pid)),
            Some(_) => usage("host-signals: HOSTPID must be a positive pid"),
        },
        Some(other) => usage(&format!("unknown subcommand {other:?}")),
        None => usage("missing subcommand"),
    };
    #[allow(clippy::exit)]
    std::process::exit(code);
}

fn usage(why: &str) -> i32 {
    eprintln!("jail-probe: {why}\n{USAGE}");
    2
}
