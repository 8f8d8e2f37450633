//! Kernel attack surface shared by every tenant (DESIGN §6): socket families beyond unix, inet,
//! inet6 and netlink (AF_ALG is the "Copy Fail" page-cache surface), and execution domains
//! (`personality`) beyond the default. Each check comes with its control: the families and personas
//! a jail keeps must still work, so a filter that refused everything would not pass.

use std::io;
use std::os::fd::AsRawFd;

use crate::report::{Report, errno};
use crate::sys;

/// Every address family of linux/socket.h below AF_MAX (46), except the four a jail keeps.
const REFUSED_FAMILIES: &[(u64, &str)] = &[
    (0, "AF_UNSPEC"),
    (3, "AF_AX25"),
    (4, "AF_IPX"),
    (5, "AF_APPLETALK"),
    (6, "AF_NETROM"),
    (7, "AF_BRIDGE"),
    (8, "AF_ATMPVC"),
    (9, "AF_X25"),
    (11, "AF_ROSE"),
    (12, "AF_DECnet"),
    (13, "AF_NETBEUI"),
    (14, "AF_SECURITY"),
    (15, "AF_KEY"),
    (17, "AF_PACKET"),
    (18, "AF_ASH"),
    (19, "AF_ECONET"),
    (20, "AF_ATMSVC"),
    (21, "AF_RDS"),
    (22, "AF_SNA"),
    (23, "AF_IRDA"),
    (24, "AF_PPPOX"),
    (25, "AF_WANPIPE"),
    (26, "AF_LLC"),
    (27, "AF_IB"),
    (28, "AF_MPLS"),
    (29, "AF_CAN"),
    (30, "AF_TIPC"),
    (31, "AF_BLUETOOTH"),
    (32, "AF_IUCV"),
    (33, "AF_RXRPC"),
    (34, "AF_ISDN"),
    (35, "AF_PHONET"),
    (36, "AF_IEEE802154"),
    (37, "AF_CAIF"),
    (38, "AF_ALG"),
    (39, "AF_NFC"),
    (40, "AF_VSOCK"),
    (41, "AF_KCM"),
    (42, "AF_QIPCRTR"),
    (43, "AF_SMC"),
    (44, "AF_XDP"),
    (45, "AF_MCTP"),
    (46, "AF_MAX (46, unknown today)"),
    (255, "family 255"),
];

const HIGH_BIT: u64 = 1 << 32;

/// A call the seccomp deny filter must refuse: blocked only on EPERM or EACCES. Any other errno
/// (EAFNOSUPPORT for a family whose module is not loaded, EINVAL for a bad type) means the call
/// reached the kernel's own code, which the filter is there to keep it from.
fn refused<T>(r: &mut Report, attempt: &str, result: io::Result<T>) {
    match result {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => r.blocked(attempt, errno(&e)),
        Err(e) => r.escaped(
            attempt,
            format!("reached the kernel ({}) instead of seccomp's EPERM", errno(&e)),
        ),
        Ok(_) => r.escaped(attempt, "created (closed again at once)"),
    }
}

pub fn sockets() -> i32 {
    let mut r = Report::default();
    for &(domain, name) in REFUSED_FAMILIES {
        // The type hardly matters: the filter looks at the domain only.
        let kind = if domain == 38 {
            libc::SOCK_SEQPACKET
        } else {
            libc::SOCK_DGRAM
        };
        refused(&mut r, &format!("socket({name})"), sys::socket_raw(domain, kind, 0));
    }
    // CVE-2019-10063-style: the kernel reads the domain as an int, so the filter must too.
    for (domain, name) in [(38, "AF_ALG"), (17, "AF_PACKET"), (40, "AF_VSOCK")] {
        let attempt = format!("socket({name}|1<<32)");
        refused(
            &mut r,
            &attempt,
            sys::socket_raw(domain | HIGH_BIT, libc::SOCK_SEQPACKET, 0),
        );
    }
    for (domain, name) in [
        (libc::AF_ALG, "AF_ALG"),
        (libc::AF_PACKET, "AF_PACKET"),
        (libc::AF_TIPC, "AF_TIPC"),
    ] {
        refused(
            &mut r,
            &format!("socketpair({name})"),
            sys::socketpair(domain, libc::SOCK_SEQPACKET),
        );
    }
    // Raw IP sockets need CAP_NET_RAW, which the default mask leaves out.
    for (domain, name, proto) in [
        (libc::AF_INET, "AF_INET", libc::IPPROTO_ICMP),
        (libc::AF_INET6, "AF_INET6", libc::IPPROTO_ICMPV6),
    ] {
        let attempt = format!("socket({name}, SOCK_RAW) without CAP_NET_RAW");
        refused(&mut r, &attempt, sys::socket_raw(domain as u64, libc::SOCK_RAW, proto));
    }

    // Controls: what every jail keeps.
    let fd = |s: std::os::fd::OwnedFd| format!("fd {}", s.as_raw_fd());
    for (domain, name, kind, kind_name, proto) in [
        (libc::AF_UNIX, "AF_UNIX", libc::SOCK_STREAM, "SOCK_STREAM", 0),
        (libc::AF_UNIX, "AF_UNIX", libc::SOCK_DGRAM, "SOCK_DGRAM", 0),
        (libc::AF_INET, "AF_INET", libc::SOCK_STREAM, "SOCK_STREAM", 0),
        (libc::AF_INET, "AF_INET", libc::SOCK_DGRAM, "SOCK_DGRAM", 0),
        (libc::AF_INET6, "AF_INET6", libc::SOCK_STREAM, "SOCK_STREAM", 0),
        (libc::AF_INET6, "AF_INET6", libc::SOCK_DGRAM, "SOCK_DGRAM", 0),
        // What iproute2 and busybox `ip` open: netlink's SOCK_RAW needs no CAP_NET_RAW.
        (
            libc::AF_NETLINK,
            "AF_NETLINK",
            libc::SOCK_RAW,
            "SOCK_RAW, NETLINK_ROUTE",
            libc::NETLINK_ROUTE,
        ),
        (
            libc::AF_NETLINK,
            "AF_NETLINK",
            libc::SOCK_DGRAM,
            "SOCK_DGRAM, NETLINK_ROUTE",
            libc::NETLINK_ROUTE,
        ),
    ] {
        let what = format!("socket({name}, {kind_name})");
        match sys::socket_raw(domain as u64, kind, proto) {
            Ok(s) => r.allowed(&what, fd(s)),
            Err(e) => r.denied(&what, errno(&e)),
        }
    }
    match sys::socketpair(libc::AF_UNIX, libc::SOCK_STREAM) {
        Ok((a, b)) => r.allowed(
            "socketpair(AF_UNIX, SOCK_STREAM)",
            format!("fds {} {}", a.as_raw_fd(), b.as_raw_fd()),
        ),
        Err(e) => r.denied("socketpair(AF_UNIX, SOCK_STREAM)", errno(&e)),
    }
    r.exit_code()
}

/// Personas (linux/personality.h) a jail must not take: they change how the kernel lays out or
/// protects the address space of what the jail execs next.
const REFUSED_PERSONAS: &[(u64, &str)] = &[
    (0x040_0000, "READ_IMPLIES_EXEC"),
    (0x020_0000, "ADDR_COMPAT_LAYOUT"),
    (0x010_0000, "MMAP_PAGE_ZERO"),
    (0x008_0000, "FDPIC_FUNCPTRS"),
    (0x080_0000, "ADDR_LIMIT_32BIT"),
    (0x800_0000, "ADDR_LIMIT_3GB"),
    (0x100_0000, "SHORT_INODE"),
    (0x200_0000, "WHOLE_SECONDS"),
    (0x400_0000, "STICKY_TIMEOUTS"),
    (0x0006, "PER_BSD"),
    (0x0410_0001, "PER_SVR4 (incl. MMAP_PAGE_ZERO)"),
    (0x0500_0003, "PER_SCOSVR3"),
    (0x0008 | 0x040_0000, "PER_LINUX32|READ_IMPLIES_EXEC"),
    (0x040_0000 | 0x004_0000, "READ_IMPLIES_EXEC|ADDR_NO_RANDOMIZE"),
    (0x1_0040_0000, "READ_IMPLIES_EXEC|1<<32"),
];

/// Personas a jail keeps: the query, plain Linux, and what `setarch` / `linux32` / gdb use.
const KEPT_PERSONAS: &[(u64, &str)] = &[
    (0x0000, "PER_LINUX"),
    (0x0008, "PER_LINUX32"),
    (0x002_0000, "UNAME26"),
    (0x004_0000, "ADDR_NO_RANDOMIZE"),
    (0x004_0008, "PER_LINUX32|ADDR_NO_RANDOMIZE"),
    (0x006_0000, "UNAME26|ADDR_NO_RANDOMIZE"),
];

const QUERY: u64 = 0xffff_ffff;

pub fn personality() -> i32 {
    let mut r = Report::default();
    let original = match sys::personality(QUERY) {
        Ok(p) => {
            r.allowed("personality(0xffffffff) (query)", format!("current persona {p:#x}"));
            p as u64
        }
        Err(e) => {
            r.denied("personality(0xffffffff) (query)", errno(&e));
            0
        }
    };
    // Whatever a call changes is put back at once, so the probe goes on under its own persona.
    let restore = |r: &mut Report| {
        if let Err(e) = sys::personality(original) {
            r.note("restore the persona", errno(&e));
        }
    };
    for &(persona, name) in REFUSED_PERSONAS {
        let attempt = format!("personality({name} {persona:#x})");
        match sys::personality(persona) {
            Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EACCES)) => r.blocked(&attempt, errno(&e)),
            Err(e) => r.escaped(&attempt, format!("reached the kernel ({})", errno(&e))),
            Ok(_) => {
                let now = sys::personality(QUERY).map_or_else(|e| errno(&e), |p| format!("{p:#x}"));
                restore(&mut r);
                r.escaped(&attempt, format!("set (persona became {now}; restored)"));
            }
        }
    }
    for &(persona, name) in KEPT_PERSONAS {
        let what = format!("personality({name} {persona:#x})");
        match sys::personality(persona) {
            Ok(_) => {
                let now = sys::personality(QUERY).map_or_else(|e| errno(&e), |p| format!("{p:#x}"));
                restore(&mut r);
                r.allowed(&what, format!("persona became {now} (restored)"));
            }
            Err(e) => r.denied(&what, errno(&e)),
        }
    }
    r.exit_code()
}
