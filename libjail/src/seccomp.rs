//! The default seccomp profile of a jail (DESIGN §4 step 15, §6, §7).
//!
//! Two filters, stacked in this order:
//!
//! 1. **allow-list** (default `ENOSYS`), a short range search written by
//!    hand (seccompiler would emit ~1900 instructions, about 1 ms to install):
//!    every call of the x86_64 table
//!    ([`crate::syscalls::SYSCALLS`]) except `clone3`, whose flags live in
//!    memory a filter cannot read, so glibc falls back to `clone`. Numbers the
//!    table does not know — calls newer than the table, x32 numbers
//!    (`nr | 0x40000000`, which never equal a table entry) — get `ENOSYS`.
//! 2. **deny filter** (default allow, match `EPERM`): [`DEFAULT_DENY`]
//!    unconditionally, plus argument rules on `clone`/`unshare`
//!    (`CLONE_NEWUSER`), `socket`/`socketpair` (domain), `ioctl`
//!    (`TIOCSTI`/`TIOCLINUX`, compared on the low 32 bits) and `personality`.
//!
//! Both start with seccompiler's architecture check: a call made under any
//! other audit architecture than `AUDIT_ARCH_X86_64` (i386 through
//! `int 0x80`, say) kills the whole process (`SECCOMP_RET_KILL_PROCESS`).
//!
//! When stacked filters disagree the kernel takes the most severe action,
//! and of two `ERRNO`s the one of the newest filter: the deny filter is
//! installed second, so a denied call answers `EPERM`, an unknown one
//! `ENOSYS`.
//!
//! The filters are compiled in the parent ([`compile`]) to plain instruction
//! vectors, so that [`install`] in the forked jail stage does not allocate.
//! They are installed with the raw `seccomp(2)` call, without no_new_privs
//! (the jail stage still holds CAP_SYS_ADMIN in its user namespace).
//!
//! Cost: for a call that a filter allows whatever its arguments, the kernel's
//! per-filter action cache skips running the program, so only the calls with
//! argument rules (`ioctl`, `socket`, `clone`, ...) pay for the linear scan.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::{Deserialize, Serialize};

use crate::syscalls;

/// One classic-BPF instruction: a serde-able copy of the kernel's
/// `struct sock_filter`, with the same `#[repr(C)]` layout (checked at
/// compile time in [`crate::sys::seccomp`]) so a program is installed
/// without copying.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RawInsn {
    /// Operation code.
    pub code: u16,
    /// Jump offset when the condition holds.
    pub jt: u8,
    /// Jump offset when it does not.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// Compiled seccomp filters, installed in order (the allow-list first, then
/// the deny filter). Serialised into the spawn plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeccompFilters {
    /// One BPF program per filter.
    pub programs: Vec<Vec<RawInsn>>,
}

/// Errors of compiling or installing the seccomp filters.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// Names in the policy that are not x86_64 system calls.
    #[error("seccomp: {}", join_unknown(.0))]
    UnknownSyscalls(Vec<UnknownSyscall>),
    /// A name both in the policy's `deny` and `allow` lists.
    #[error("seccomp: system call `{0}` is both in the policy deny list and in its allow list")]
    DeniedAndAllowed(String),
    /// A call the jail stage itself needs after the filters are in place.
    #[error(
        "seccomp: system call `{0}` cannot be denied: the jail needs it to drop privileges and \
         start its payload"
    )]
    Essential(String),
    /// The profile is built from the x86_64 table only.
    #[error("seccomp: the jail profile is built for x86_64, not {0}")]
    UnsupportedArch(&'static str),
    /// seccompiler refused the filter.
    #[error("seccomp: cannot compile the filter: {0}")]
    Compile(#[from] BackendError),
    /// The kernel refused filter number `index` (0: allow-list, 1: deny filter).
    #[error("seccomp: cannot install filter {index}: {source}{}", install_hint(source))]
    Install {
        /// Position of the program in [`SeccompFilters::programs`].
        index: usize,
        /// The error of `seccomp(2)`.
        #[source]
        source: std::io::Error,
    },
}

/// A name from a policy list that is not a known system call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSyscall {
    /// The name as written.
    pub name: String,
    /// `"deny"` or `"allow"`.
    pub list: &'static str,
    /// The closest known name, when one is close.
    pub suggestion: Option<&'static str>,
}

impl fmt::Display for UnknownSyscall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown system call `{}` in policy {} list", self.name, self.list)?;
        if let Some(hint) = self.suggestion {
            write!(f, " (did you mean `{hint}`?)")?;
        }
        Ok(())
    }
}

fn install_hint(e: &std::io::Error) -> &'static str {
    if e.raw_os_error() == Some(libc::EACCES) {
        " (the caller needs CAP_SYS_ADMIN in its user namespace or no_new_privs)"
    } else {
        ""
    }
}

fn join_unknown(unknown: &[UnknownSyscall]) -> String {
    unknown.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// The calls the default profile answers with `EPERM` whatever their
/// arguments. A policy's `allow` list can take names out of it.
pub const DEFAULT_DENY: &[&str] = &[
    // kernel code and the running kernel
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "bpf",
    "perf_event_open",
    "iopl",
    "ioperm",
    "syslog",
    "lookup_dcookie",
    "uselib",
    "nfsservctl",
    "_sysctl",
    // keyrings are not namespaced
    "keyctl",
    "add_key",
    "request_key",
    // file handles escape the root (shocker)
    "open_by_handle_at",
    "name_to_handle_at",
    // shared attack surface
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "fanotify_init",
    // host-wide state
    "swapon",
    "swapoff",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "acct",
    "quotactl",
    "quotactl_fd",
    "vhangup",
    // the mount family (the mounts are locked anyway, §4)
    "mount",
    "umount2",
    "pivot_root",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
];

/// Calls the jail stage makes after the filters are installed (step 16 and
/// the exec): denying them would make every start fail.
const ESSENTIAL: &[&str] = &[
    "execve",
    "exit",
    "exit_group",
    "rt_sigreturn",
    "capget",
    "capset",
    "prctl",
    "setgroups",
    "setresuid",
    "setresgid",
    "setuid",
    "setgid",
];

/// The call the allow-list leaves out by default.
const CLONE3: &str = "clone3";

/// How an argument rule decides that a call is refused. Every comparison is
/// on the low 32 bits of the argument (the kernel reads these arguments as
/// `int` or `unsigned int`, or ignores their upper half).
#[derive(Clone, Debug)]
enum Refuse {
    /// When `arg & flag == flag`.
    FlagSet { arg: u8, flag: u64 },
    /// When `arg & mask == value`.
    MaskedEq { arg: u8, mask: u64, value: u64 },
    /// When every `(arg, mask, value)` has `arg & mask == value`.
    AllMaskedEq(Vec<(u8, u64, u64)>),
    /// When the argument equals one of the values.
    AnyOf { arg: u8, values: Vec<u64> },
    /// When the argument equals none of the values.
    NoneOf { arg: u8, values: Vec<u64> },
}

/// An argument rule of the deny filter: the call is refused when any of
/// `refuse` matches.
#[derive(Clone, Debug)]
struct ArgRule {
    name: &'static str,
    refuse: Vec<Refuse>,
    /// For [`describe`]: "`name`: EPERM {what}".
    what: String,
}

/// The allowances of a policy (DESIGN §2, FreeBSD's `allow.*`) as the
/// seccomp profile sees them: each one that is off adds rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowances {
    /// `sethostname`/`setdomainname` allowed.
    pub set_hostname: bool,
    /// The mount family allowed (the kernel's lock still protects the masks).
    pub mount: bool,
    /// `socket(..., SOCK_RAW | SOCK_PACKET, ...)` allowed.
    pub raw_sockets: bool,
    /// System V shared memory, semaphores and message queues allowed.
    pub sysvipc: bool,
    /// `clone`/`unshare` with `CLONE_NEWUSER` allowed.
    pub nested_userns: bool,
    /// `ptrace` and `process_vm_*` allowed.
    pub ptrace: bool,
    /// `chroot` allowed.
    pub chroot: bool,
    /// `mknod` of character and block nodes passed to the kernel (which
    /// still refuses real devices in a user namespace).
    pub mknod: bool,
    /// The socket families (`AF_*`) `socket` and `socketpair` accept.
    pub socket_families: Vec<i32>,
}

impl Allowances {
    /// The base profile alone: no allowance adds a rule (what
    /// [`compile`] uses).
    pub fn base() -> Allowances {
        Allowances {
            set_hostname: true,
            mount: false,
            raw_sockets: true,
            sysvipc: true,
            nested_userns: false,
            ptrace: true,
            chroot: true,
            mknod: true,
            socket_families: vec![libc::AF_UNIX, libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK],
        }
    }
}

const MOUNT_FAMILY: &[&str] = &[
    "mount",
    "umount2",
    "move_mount",
    "open_tree",
    "open_tree_attr",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
];
const SYSVIPC: &[&str] = &[
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "semget",
    "semop",
    "semtimedop",
    "semctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
];
const PTRACE: &[&str] = &["ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp"];
const HOSTNAME: &[&str] = &["sethostname", "setdomainname"];

const NEW_USER_NS: u64 = libc::CLONE_NEWUSER as u64;
/// PER_LINUX (0), PER_LINUX32 (0x8), each with UNAME26 (0x20000) and/or
/// ADDR_NO_RANDOMIZE (0x40000, what `setarch -R` and gdb use), and the query
/// value. READ_IMPLIES_EXEC, MMAP_PAGE_ZERO and the other flags stay refused.
const ALLOWED_PERSONAS: &[u64] = &[
    0x0,
    0x0008,
    0x0002_0000,
    0x0002_0008,
    0x0004_0000,
    0x0004_0008,
    0x0006_0000,
    0x0006_0008,
    0xffff_ffff,
];
const TTY_INJECT: &[u64] = &[libc::TIOCSTI, libc::TIOCLINUX];
const SOCK_TYPE_MASK: u64 = 0xf;
const S_IFMT: u64 = libc::S_IFMT as u64;
/// `SOCK_PACKET` (deprecated in libc, still accepted by the kernel for
/// AF_INET raw frames): refused with SOCK_RAW.
const SOCK_PACKET: i32 = 10;

/// The names of socket families for descriptions.
fn family_name(af: i32) -> String {
    match af {
        libc::AF_UNIX => "unix".into(),
        libc::AF_INET => "inet".into(),
        libc::AF_INET6 => "inet6".into(),
        libc::AF_NETLINK => "netlink".into(),
        libc::AF_PACKET => "packet".into(),
        other => format!("family {other}"),
    }
}

/// The argument rules for `allowances`.
fn arg_rules_for(a: &Allowances) -> Vec<ArgRule> {
    let mut rules = Vec::new();
    if !a.nested_userns {
        rules.push(ArgRule {
            name: "clone",
            refuse: vec![Refuse::FlagSet {
                arg: 0,
                flag: NEW_USER_NS,
            }],
            what: "when flags include CLONE_NEWUSER (a nested user namespace resets securebits and the bounding set)"
                .into(),
        });
        rules.push(ArgRule {
            name: "unshare",
            refuse: vec![Refuse::FlagSet {
                arg: 0,
                flag: NEW_USER_NS,
            }],
            what: "when flags include CLONE_NEWUSER".into(),
        });
    }
    let families: Vec<u64> = a.socket_families.iter().map(|&f| u64::from(f.unsigned_abs())).collect();
    let names = a
        .socket_families
        .iter()
        .map(|&f| family_name(f))
        .collect::<Vec<_>>()
        .join(", ");
    let mut socket = vec![Refuse::NoneOf {
        arg: 0,
        values: families.clone(),
    }];
    let mut socket_what = format!("unless domain is one of {names}");
    if !a.raw_sockets {
        // Raw IP sockets (ping) and the old SOCK_PACKET; netlink sockets are
        // SOCK_RAW too and stay allowed. AF_PACKET is link-level raw.
        for af in [libc::AF_INET, libc::AF_INET6] {
            for ty in [libc::SOCK_RAW, SOCK_PACKET] {
                socket.push(Refuse::AllMaskedEq(vec![
                    (0, u64::from(u32::MAX), u64::from(af.unsigned_abs())),
                    (1, SOCK_TYPE_MASK, u64::from(ty.unsigned_abs())),
                ]));
            }
        }
        socket.push(Refuse::MaskedEq {
            arg: 0,
            mask: u64::from(u32::MAX),
            value: u64::from(libc::AF_PACKET.unsigned_abs()),
        });
        socket_what.push_str(", and for raw inet/inet6 sockets and AF_PACKET (allow.raw_sockets is off)");
    }
    rules.push(ArgRule {
        name: "socket",
        refuse: socket,
        what: socket_what,
    });
    rules.push(ArgRule {
        name: "socketpair",
        refuse: vec![Refuse::NoneOf {
            arg: 0,
            values: families,
        }],
        what: format!("unless domain is one of {names}"),
    });
    rules.push(ArgRule {
        name: "ioctl",
        refuse: vec![Refuse::AnyOf {
            arg: 1,
            values: TTY_INJECT.to_vec(),
        }],
        what: "for TIOCSTI and TIOCLINUX (request compared on its low 32 bits, CVE-2019-10063)".into(),
    });
    rules.push(ArgRule {
        name: "personality",
        refuse: vec![Refuse::NoneOf {
            arg: 0,
            values: ALLOWED_PERSONAS.to_vec(),
        }],
        what: "unless persona is PER_LINUX or PER_LINUX32, optionally with UNAME26 and ADDR_NO_RANDOMIZE, or \
               0xffffffff (query)"
            .into(),
    });
    if !a.mknod {
        for (name, arg) in [("mknod", 1u8), ("mknodat", 2u8)] {
            rules.push(ArgRule {
                name,
                refuse: vec![
                    Refuse::MaskedEq {
                        arg,
                        mask: S_IFMT,
                        value: u64::from(libc::S_IFCHR),
                    },
                    Refuse::MaskedEq {
                        arg,
                        mask: S_IFMT,
                        value: u64::from(libc::S_IFBLK),
                    },
                ],
                what: "for character and block devices (allow.mknod is off; FIFOs and sockets are fine)".into(),
            });
        }
    }
    rules
}

/// Why a call is in the deny filter unconditionally.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    Default,
    Policy,
    /// Denied because an allowance is off (its name).
    Allowance(&'static str),
}

/// The profile after applying a policy's lists, before compiling.
struct Profile {
    /// clone3 back in the allow-list (policy `allow: [clone3]`).
    clone3_allowed: bool,
    /// Unconditional EPERM, by name.
    denied: BTreeMap<&'static str, Origin>,
    /// Argument rules still in force.
    arg_rules: Vec<ArgRule>,
    /// Names the policy allowed that the default profile restricts.
    lifted: Vec<&'static str>,
}

impl Profile {
    fn new(deny: &[String], allow: &[String], allowances: &Allowances) -> Result<Self, SeccompError> {
        let deny = resolve(deny, "deny");
        let allow = resolve(allow, "allow");
        let unknown: Vec<UnknownSyscall> = deny
            .iter()
            .chain(allow.iter())
            .filter_map(|r| r.as_ref().err().cloned())
            .collect();
        if !unknown.is_empty() {
            return Err(SeccompError::UnknownSyscalls(unknown));
        }
        let deny: BTreeSet<&'static str> = deny.into_iter().flatten().collect();
        let allow: BTreeSet<&'static str> = allow.into_iter().flatten().collect();
        if let Some(name) = deny.intersection(&allow).next() {
            return Err(SeccompError::DeniedAndAllowed((*name).to_owned()));
        }
        if let Some(name) = deny.iter().find(|n| ESSENTIAL.contains(n)) {
            return Err(SeccompError::Essential((*name).to_owned()));
        }

        let mut denied = BTreeMap::new();
        for &name in DEFAULT_DENY {
            let lifted = allowances.mount && MOUNT_FAMILY.contains(&name);
            if !allow.contains(name) && !lifted && syscalls::number(name).is_some() {
                denied.insert(name, Origin::Default);
            }
        }
        for (on, names, why) in [
            (allowances.set_hostname, HOSTNAME, "set_hostname"),
            (allowances.sysvipc, SYSVIPC, "sysvipc"),
            (allowances.ptrace, PTRACE, "ptrace"),
            (allowances.chroot, &["chroot"][..], "chroot"),
        ] {
            if on {
                continue;
            }
            for &name in names {
                if !allow.contains(name) && syscalls::number(name).is_some() {
                    denied.insert(name, Origin::Allowance(why));
                }
            }
        }
        // Denying clone3 again keeps its ENOSYS: EPERM would stop glibc
        // from falling back to clone.
        for &name in deny.iter().filter(|&&n| n != CLONE3) {
            denied.entry(name).or_insert(Origin::Policy);
        }
        let all_rules = arg_rules_for(&Allowances::base());
        let arg_rules = arg_rules_for(allowances)
            .into_iter()
            .filter(|r| !allow.contains(r.name) && !denied.contains_key(r.name))
            .collect();
        let lifted = allow
            .iter()
            .copied()
            .filter(|n| DEFAULT_DENY.contains(n) || *n == CLONE3 || all_rules.iter().any(|r| r.name == *n))
            .collect();
        Ok(Profile {
            clone3_allowed: allow.contains(CLONE3),
            denied,
            arg_rules,
            lifted,
        })
    }
}

/// Looks each name up in the table; unknown ones come back with a hint.
fn resolve(names: &[String], list: &'static str) -> Vec<Result<&'static str, UnknownSyscall>> {
    names
        .iter()
        .map(|name| {
            syscalls::SYSCALLS
                .iter()
                .find(|(n, _)| n == name)
                .map(|&(n, _)| n)
                .ok_or_else(|| UnknownSyscall {
                    name: name.clone(),
                    list,
                    suggestion: suggest(name),
                })
        })
        .collect()
}

/// The closest table name, if it is at most two edits away (or the name
/// with a `sys_`/`SYS_` prefix or `()` stripped).
fn suggest(name: &str) -> Option<&'static str> {
    let trimmed = name
        .trim()
        .trim_start_matches("SYS_")
        .trim_start_matches("sys_")
        .trim_end_matches("()")
        .to_ascii_lowercase();
    syscalls::SYSCALLS
        .iter()
        .map(|&(n, _)| (edit_distance(&trimmed, n), n))
        .filter(|&(d, n)| d <= 2 && d < n.len())
        .min_by_key(|&(d, _)| d)
        .map(|(_, n)| n)
}

/// Levenshtein distance over bytes.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// Compiles the jail's filters from the policy's `deny` list (names answered
/// with `EPERM`, added to [`DEFAULT_DENY`]) and `allow` list (names taken out
/// of the default restrictions: a [`DEFAULT_DENY`] entry, an argument rule, or
/// `clone3`'s `ENOSYS`).
///
/// Errors: a name that is not an x86_64 system call, a name in both lists,
/// or a denied call the jail stage itself needs (`execve`, `capset`, ...).
pub fn compile(deny: &[String], allow: &[String]) -> Result<SeccompFilters, SeccompError> {
    compile_with(deny, allow, &Allowances::base())
}

/// [`compile`] with the rules of a policy's allowances.
pub fn compile_with(
    deny: &[String],
    allow: &[String],
    allowances: &Allowances,
) -> Result<SeccompFilters, SeccompError> {
    if !cfg!(target_arch = "x86_64") {
        return Err(SeccompError::UnsupportedArch(std::env::consts::ARCH));
    }
    let profile = Profile::new(deny, allow, allowances)?;
    Ok(SeccompFilters {
        programs: vec![allow_list(&profile)?, deny_filter(&profile)?],
    })
}

fn to_raw(prog: BpfProgram) -> Vec<RawInsn> {
    prog.into_iter()
        .map(|i| RawInsn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

fn errno(e: i32) -> SeccompAction {
    SeccompAction::Errno(e.unsigned_abs())
}

/// The allow-list as a range search (DESIGN §4: a linear filter of ~1900
/// instructions cost about 1 ms to install, most of it the kernel running
/// it once per syscall number to build its action cache): the allowed
/// numbers form a few contiguous ranges, and each range costs two jumps.
/// Another architecture is killed; x32 numbers (bit 30) are above every
/// range and get ENOSYS like any unknown call.
fn allow_list(profile: &Profile) -> Result<Vec<RawInsn>, SeccompError> {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGT_K: u16 = 0x25;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    let mut nrs: Vec<u32> = syscalls::SYSCALLS
        .iter()
        .filter(|&&(name, _)| name != CLONE3 || profile.clone3_allowed)
        .filter_map(|&(_, nr)| u32::try_from(nr).ok())
        .collect();
    nrs.sort_unstable();
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for nr in nrs {
        match ranges.last_mut() {
            Some((_, hi)) if *hi + 1 == nr => *hi = nr,
            _ => ranges.push((nr, nr)),
        }
    }
    // Two jumps per range, then ret ENOSYS, then ret ALLOW.
    let n = ranges.len();
    if 2 * n + 2 > 255 {
        return Err(SeccompError::Essential(
            "too many syscall ranges for a short jump".into(),
        ));
    }
    let mut prog = vec![
        RawInsn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 4,
        },
        RawInsn {
            code: JEQ_K,
            jt: 1,
            jf: 0,
            k: AUDIT_ARCH_X86_64,
        },
        RawInsn {
            code: RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_KILL_PROCESS,
        },
        RawInsn {
            code: LD_W_ABS,
            jt: 0,
            jf: 0,
            k: 0,
        },
    ];
    for (i, &(lo, hi)) in ranges.iter().enumerate() {
        // Offsets from the instruction after each jump to ret ENOSYS (at
        // 2n) and ret ALLOW (at 2n + 1), counted within the range block.
        let here = 2 * i;
        let to_enosys = u8::try_from(2 * n - (here + 1)).unwrap_or(0);
        let to_allow = u8::try_from(2 * n + 1 - (here + 2)).unwrap_or(0);
        // nr < lo (and above the previous range): unknown.
        prog.push(RawInsn {
            code: JGE_K,
            jt: 0,
            jf: to_enosys,
            k: lo,
        });
        // nr <= hi: allowed; else try the next range.
        prog.push(RawInsn {
            code: JGT_K,
            jt: 0,
            jf: to_allow,
            k: hi,
        });
    }
    prog.push(RawInsn {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
    });
    prog.push(RawInsn {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    });
    Ok(prog)
}

fn condition(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, BackendError> {
    // Dword: only the low 32 bits of the argument are loaded and compared.
    SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
}

fn arg_rules(refuse: &[Refuse]) -> Result<Vec<SeccompRule>, BackendError> {
    let mut rules = Vec::new();
    for r in refuse {
        rules.extend(refuse_rules(r)?);
    }
    Ok(rules)
}

fn refuse_rules(refuse: &Refuse) -> Result<Vec<SeccompRule>, BackendError> {
    match refuse {
        &Refuse::MaskedEq { arg, mask, value } => Ok(vec![SeccompRule::new(vec![condition(
            arg,
            SeccompCmpOp::MaskedEq(mask),
            value,
        )?])?]),
        Refuse::AllMaskedEq(conds) => Ok(vec![SeccompRule::new(
            conds
                .iter()
                .map(|&(arg, mask, value)| condition(arg, SeccompCmpOp::MaskedEq(mask), value))
                .collect::<Result<_, _>>()?,
        )?]),
        &Refuse::FlagSet { arg, flag } => Ok(vec![SeccompRule::new(vec![condition(
            arg,
            SeccompCmpOp::MaskedEq(flag),
            flag,
        )?])?]),
        // One rule per value: any of them matching refuses the call.
        Refuse::AnyOf { arg, values } => values
            .iter()
            .map(|&v| SeccompRule::new(vec![condition(*arg, SeccompCmpOp::Eq, v)?]))
            .collect(),
        // One rule of all the inequalities: it matches only when none is equal.
        Refuse::NoneOf { arg, values } => Ok(vec![SeccompRule::new(
            values
                .iter()
                .map(|&v| condition(*arg, SeccompCmpOp::Ne, v))
                .collect::<Result<_, _>>()?,
        )?]),
    }
}

fn deny_filter(profile: &Profile) -> Result<Vec<RawInsn>, SeccompError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for name in profile.denied.keys() {
        if let Some(nr) = syscalls::number(name) {
            rules.insert(nr, Vec::new());
        }
    }
    for rule in &profile.arg_rules {
        if let Some(nr) = syscalls::number(rule.name) {
            rules.insert(nr, arg_rules(&rule.refuse)?);
        }
    }
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, errno(libc::EPERM), TargetArch::x86_64)?;
    Ok(to_raw(filter.try_into()?))
}

/// Installs the filters on the calling thread, in order. Does not allocate
/// (it runs in the forked jail stage) and does not set no_new_privs: the
/// caller needs CAP_SYS_ADMIN in its user namespace or no_new_privs set.
pub fn install(filters: &SeccompFilters) -> Result<(), SeccompError> {
    for (index, program) in filters.programs.iter().enumerate() {
        crate::sys::seccomp::install_filter(crate::sys::seccomp::as_sock_filters(program))
            .map_err(|source| SeccompError::Install { index, source })?;
    }
    Ok(())
}

/// The profile in words, one line per rule, for `jailctl policy explain`:
/// `"kexec_load: EPERM"`, `"socket: EPERM unless domain is unix, inet, inet6
/// or netlink"`, `"clone3: ENOSYS (glibc falls back to clone)"`, ... A policy
/// error gives a single line with the error.
pub fn describe(deny: &[String], allow: &[String]) -> Vec<String> {
    describe_with(deny, allow, &Allowances::base())
}

/// [`describe`] with the rules of a policy's allowances.
pub fn describe_with(deny: &[String], allow: &[String], allowances: &Allowances) -> Vec<String> {
    let profile = match Profile::new(deny, allow, allowances) {
        Ok(profile) => profile,
        Err(e) => return vec![e.to_string()],
    };
    let mut lines = vec![
        format!(
            "any system call outside the {} known x86_64 calls (newer calls, x32 numbers): ENOSYS",
            syscalls::SYSCALLS.len()
        ),
        "any call made under another architecture (i386 int 0x80): process killed".to_owned(),
    ];
    if profile.clone3_allowed {
        lines.push(
            "clone3: allowed (policy); its flags cannot be filtered, so CLONE_NEWUSER is \
             possible through it"
                .to_owned(),
        );
    } else {
        lines.push("clone3: ENOSYS (glibc falls back to clone)".to_owned());
    }
    let ordered = DEFAULT_DENY.iter().copied().chain(
        profile
            .denied
            .iter()
            .filter(|&(_, &o)| o == Origin::Policy)
            .map(|(&n, _)| n),
    );
    for name in ordered {
        match profile.denied.get(name) {
            Some(Origin::Default) => lines.push(format!("{name}: EPERM")),
            Some(Origin::Policy) => lines.push(format!("{name}: EPERM (policy)")),
            _ => {}
        }
    }
    for (name, origin) in &profile.denied {
        if let Origin::Allowance(why) = origin {
            lines.push(format!("{name}: EPERM (allow.{why} is off)"));
        }
    }
    if allowances.mount {
        lines.push("mount family: allowed (allow.mount); the masks stay locked by the kernel".to_owned());
    }
    for rule in &profile.arg_rules {
        lines.push(format!("{}: EPERM {}", rule.name, rule.what));
    }
    for name in profile.lifted.iter().filter(|&&n| n != CLONE3) {
        lines.push(format!("{name}: allowed (policy)"));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::seccomp::{in_child, raw_syscall, set_no_new_privs};
    use std::os::fd::AsRawFd;

    // ---- a classic-BPF interpreter, to check the programs without a kernel

    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const X32_BIT: u32 = 0x4000_0000;
    const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const RET_KILL_PROCESS: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
    const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

    /// `struct seccomp_data` as the kernel lays it out (little-endian).
    fn seccomp_data(arch: u32, nr: u32, args: [u64; 6]) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[0..4].copy_from_slice(&nr.to_le_bytes());
        d[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        d
    }

    fn run_bpf(prog: &[RawInsn], data: &[u8; 64]) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = prog[pc];
            pc += 1;
            let jump = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
            match i.code {
                0x20 => {
                    let k = i.k as usize;
                    assert!(k.is_multiple_of(4) && k + 4 <= data.len(), "bad load {k}");
                    acc = u32::from_le_bytes(data[k..k + 4].try_into().unwrap());
                }
                0x54 => acc &= i.k,
                0x05 => pc += i.k as usize,
                0x15 => pc += jump(acc == i.k),
                0x25 => pc += jump(acc > i.k),
                0x35 => pc += jump(acc >= i.k),
                0x45 => pc += jump(acc & i.k != 0),
                0x06 => return i.k,
                code => panic!("unexpected BPF opcode {code:#x} at {}", pc - 1),
            }
        }
    }

    /// The verdict of stacked filters, with the kernel's precedence: the
    /// most severe action wins, and among equals the newest filter's.
    fn verdict(filters: &SeccompFilters, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let data = seccomp_data(arch, nr, args);
        let mut ret = RET_ALLOW;
        for prog in filters.programs.iter().rev() {
            let cur = run_bpf(prog, &data);
            let action = |r: u32| (r & libc::SECCOMP_RET_ACTION_FULL) as i32;
            if action(cur) < action(ret) {
                ret = cur;
            }
        }
        ret
    }

    fn nr(name: &str) -> u32 {
        syscalls::number(name).unwrap() as u32
    }

    fn native(filters: &SeccompFilters, name: &str, args: [u64; 6]) -> u32 {
        verdict(filters, AUDIT_ARCH_X86_64, nr(name), args)
    }

    fn strings(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn default_filters() -> SeccompFilters {
        compile(&[], &[]).unwrap()
    }

    #[test]
    fn seccomp_default_deny_names_are_in_the_table() {
        for name in DEFAULT_DENY.iter().chain(ESSENTIAL) {
            assert!(syscalls::number(name).is_some(), "{name}");
        }
        for rule in arg_rules_for(&Allowances {
            mknod: false,
            ..Allowances::base()
        }) {
            assert!(syscalls::number(rule.name).is_some(), "{}", rule.name);
        }
        // No table number collides with the x32 range.
        assert!(syscalls::SYSCALLS.iter().all(|&(_, n)| (0..0x4000_0000).contains(&n)));
    }

    #[test]
    fn seccomp_program_sizes() {
        let f = default_filters();
        assert_eq!(f.programs.len(), 2);
        let sizes: Vec<usize> = f.programs.iter().map(Vec::len).collect();
        eprintln!("seccomp program sizes: {sizes:?}");
        // arch check (3) + load nr + two jumps per contiguous range of
        // allowed numbers + ret ENOSYS + ret ALLOW: a handful of ranges.
        assert!(sizes[0] <= 16, "the allow-list is a short range search: {sizes:?}");
        assert!(sizes.iter().all(|&n| n < 4096));
    }

    #[test]
    fn seccomp_every_table_call_gets_the_expected_verdict() {
        let f = default_filters();
        for &(name, _) in syscalls::SYSCALLS {
            let got = native(&f, name, [0; 6]);
            let want = if name == CLONE3 {
                RET_ENOSYS
            } else if DEFAULT_DENY.contains(&name) || name == "socket" || name == "socketpair" {
                // socket(0, ...) is domain AF_UNSPEC: refused.
                RET_EPERM
            } else {
                RET_ALLOW
            };
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn seccomp_unknown_x32_and_foreign_arch_calls_are_refused() {
        let f = default_filters();
        for &(name, n) in syscalls::SYSCALLS {
            let x32 = verdict(&f, AUDIT_ARCH_X86_64, n as u32 | X32_BIT, [0; 6]);
            assert_eq!(x32, RET_ENOSYS, "x32 {name}");
            let i386 = verdict(&f, AUDIT_ARCH_I386, n as u32, [0; 6]);
            assert_eq!(i386, RET_KILL_PROCESS, "i386 {name}");
        }
        for n in [470, 471, 512, 1000, 0x3fff_ffff, 0xffff_ffff] {
            assert_eq!(verdict(&f, AUDIT_ARCH_X86_64, n, [0; 6]), RET_ENOSYS, "{n}");
        }
    }

    #[test]
    fn seccomp_ioctl_is_compared_under_a_32_bit_mask() {
        let f = default_filters();
        let (sti, linux) = (libc::TIOCSTI, libc::TIOCLINUX);
        for req in [sti, sti | 1 << 32, sti | 0xffff_ffff_0000_0000, linux, linux | 1 << 63] {
            assert_eq!(native(&f, "ioctl", [0, req, 0, 0, 0, 0]), RET_EPERM, "{req:#x}");
        }
        for req in [libc::TIOCGWINSZ, 0, sti << 32, sti + 1] {
            assert_eq!(native(&f, "ioctl", [0, req, 0, 0, 0, 0]), RET_ALLOW, "{req:#x}");
        }
        // The generated code loads only the low word of arg1 (offset 24;
        // the high word would be at 28).
        let deny = &f.programs[1];
        assert!(deny.iter().any(|i| i.code == 0x20 && i.k == 24));
        assert!(!deny.iter().any(|i| i.code == 0x20 && i.k == 28));
    }

    #[test]
    fn seccomp_argument_rules() {
        let f = default_filters();
        let newuser = libc::CLONE_NEWUSER as u64;
        let sigchld = libc::SIGCHLD as u64;
        for call in ["clone", "unshare"] {
            let refused = native(&f, call, [newuser | sigchld, 0, 0, 0, 0, 0]);
            assert_eq!(refused, RET_EPERM, "{call}");
            let other = libc::CLONE_NEWUTS as u64 | libc::CLONE_NEWNS as u64 | sigchld;
            assert_eq!(native(&f, call, [other, 0, 0, 0, 0, 0]), RET_ALLOW, "{call}");
        }
        for domain in [libc::AF_UNIX, libc::AF_INET, libc::AF_INET6, libc::AF_NETLINK] {
            for call in ["socket", "socketpair"] {
                let d = domain as u64;
                assert_eq!(native(&f, call, [d, 1, 0, 0, 0, 0]), RET_ALLOW);
                // The kernel reads the domain as an int: high bits do not matter.
                assert_eq!(native(&f, call, [d | 1 << 32, 1, 0, 0, 0, 0]), RET_ALLOW);
            }
        }
        for domain in [libc::AF_ALG, libc::AF_PACKET, libc::AF_VSOCK, libc::AF_BLUETOOTH, 0] {
            let d = domain as u64;
            assert_eq!(native(&f, "socket", [d, 1, 0, 0, 0, 0]), RET_EPERM);
            assert_eq!(native(&f, "socket", [d | 1 << 32, 1, 0, 0, 0, 0]), RET_EPERM);
            assert_eq!(native(&f, "socketpair", [d, 1, 0, 0, 0, 0]), RET_EPERM);
        }
        for p in [0, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff] {
            assert_eq!(native(&f, "personality", [p, 0, 0, 0, 0, 0]), RET_ALLOW, "{p:#x}");
        }
        for p in [0x040_0000, 0x0008_0000, 0x0010_0000, 0x0004] {
            assert_eq!(native(&f, "personality", [p, 0, 0, 0, 0, 0]), RET_EPERM, "{p:#x}");
        }
    }

    #[test]
    fn seccomp_policy_lists() {
        let mount_family = strings(&[
            "mount",
            "umount2",
            "open_tree",
            "move_mount",
            "fsopen",
            "fsmount",
            "fsconfig",
            "mount_setattr",
        ]);
        let f = compile(&strings(&["getcwd"]), &mount_family).unwrap();
        for name in &mount_family {
            assert_eq!(native(&f, name, [0; 6]), RET_ALLOW, "{name}");
        }
        assert_eq!(native(&f, "pivot_root", [0; 6]), RET_EPERM);
        assert_eq!(native(&f, "getcwd", [0; 6]), RET_EPERM);

        // Allowing a call with an argument rule drops the rule.
        let f = compile(&[], &strings(&["socket", "clone3", "personality"])).unwrap();
        assert_eq!(native(&f, "socket", [libc::AF_ALG as u64, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(native(&f, "clone3", [0; 6]), RET_ALLOW);
        assert_eq!(native(&f, "personality", [0x040_0000, 0, 0, 0, 0, 0]), RET_ALLOW);
        assert_eq!(
            native(&f, "socketpair", [libc::AF_ALG as u64, 0, 0, 0, 0, 0]),
            RET_EPERM
        );

        // Denying one makes it unconditional; denying clone3 keeps ENOSYS.
        let f = compile(&strings(&["socket", "clone3"]), &[]).unwrap();
        assert_eq!(native(&f, "socket", [libc::AF_UNIX as u64, 0, 0, 0, 0, 0]), RET_EPERM);
        assert_eq!(native(&f, "clone3", [0; 6]), RET_ENOSYS);
    }

    #[test]
    fn seccomp_policy_errors() {
        let err = compile(&strings(&["mountt"]), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "seccomp: unknown system call `mountt` in policy deny list (did you mean `mount`?)"
        );
        let err = compile(&[], &strings(&["frobnicate", "SYS_bpf"])).unwrap_err();
        let SeccompError::UnknownSyscalls(unknown) = &err else {
            panic!("{err}");
        };
        assert_eq!(unknown.len(), 2);
        assert_eq!((unknown[0].name.as_str(), unknown[0].suggestion), ("frobnicate", None));
        assert_eq!(unknown[1].suggestion, Some("bpf"));
        assert!(err.to_string().contains("`frobnicate` in policy allow list"), "{err}");

        let err = compile(&strings(&["mount"]), &strings(&["mount"])).unwrap_err();
        assert!(
            matches!(err, SeccompError::DeniedAndAllowed(ref n) if n == "mount"),
            "{err}"
        );
        let err = compile(&strings(&["execve"]), &[]).unwrap_err();
        assert!(matches!(err, SeccompError::Essential(ref n) if n == "execve"), "{err}");
    }

    #[test]
    fn seccomp_filters_round_trip_through_serde() {
        let f = default_filters();
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(serde_json::from_str::<SeccompFilters>(&json).unwrap(), f);
    }

    #[test]
    fn seccomp_describe() {
        let lines = describe(&[], &[]);
        eprintln!("{}", lines.join("\n"));
        for want in [
            "kexec_load: EPERM",
            "socket: EPERM unless domain is one of unix, inet, inet6, netlink",
            "clone3: ENOSYS (glibc falls back to clone)",
        ] {
            assert!(lines.iter().any(|l| l == want), "{want} not in {lines:#?}");
        }
        let lines = describe(&strings(&["getcwd"]), &strings(&["mount", "ioctl"]));
        assert!(lines.iter().any(|l| l == "getcwd: EPERM (policy)"));
        assert!(lines.iter().any(|l| l == "mount: allowed (policy)"));
        assert!(lines.iter().any(|l| l == "ioctl: allowed (policy)"));
        assert!(!lines.iter().any(|l| l == "mount: EPERM"));
        assert!(!lines.iter().any(|l| l.starts_with("ioctl: EPERM")));
        assert_eq!(describe(&strings(&["nope"]), &[]).len(), 1);
    }

    #[test]
    fn seccomp_allowances_add_and_lift_rules() {
        let strict = Allowances {
            set_hostname: false,
            mount: false,
            raw_sockets: false,
            sysvipc: false,
            nested_userns: false,
            ptrace: false,
            chroot: false,
            mknod: false,
            socket_families: vec![libc::AF_UNIX],
        };
        let f = compile_with(&[], &[], &strict).unwrap();
        let z = [0u64; 6];
        for name in [
            "sethostname",
            "setdomainname",
            "shmget",
            "semop",
            "msgget",
            "ptrace",
            "chroot",
            "mount",
        ] {
            assert_eq!(native(&f, name, z), RET_EPERM, "{name} with every allowance off");
        }
        let sock = |af: i32, ty: i32| [u64::from(af.unsigned_abs()), u64::from(ty.unsigned_abs()), 0, 0, 0, 0];
        assert_eq!(native(&f, "socket", sock(libc::AF_UNIX, libc::SOCK_STREAM)), RET_ALLOW);
        assert_eq!(native(&f, "socket", sock(libc::AF_INET, libc::SOCK_STREAM)), RET_EPERM);
        assert_eq!(native(&f, "socket", sock(libc::AF_UNIX, libc::SOCK_RAW)), RET_ALLOW);
        let f2 = compile_with(
            &[],
            &[],
            &Allowances {
                raw_sockets: false,
                ..Allowances::base()
            },
        )
        .unwrap();
        assert_eq!(native(&f2, "socket", sock(libc::AF_INET, libc::SOCK_RAW)), RET_EPERM);
        assert_eq!(
            native(&f2, "socket", sock(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC)),
            RET_EPERM
        );
        assert_eq!(native(&f2, "socket", sock(libc::AF_INET, libc::SOCK_DGRAM)), RET_ALLOW);
        assert_eq!(
            native(&f2, "socket", sock(libc::AF_NETLINK, libc::SOCK_RAW)),
            RET_ALLOW,
            "ip(8) needs it"
        );
        let mknod = |mode: u32| [0, u64::from(mode), 0, 0, 0, 0];
        assert_eq!(native(&f, "mknod", mknod(libc::S_IFCHR | 0o600)), RET_EPERM);
        assert_eq!(native(&f, "mknod", mknod(libc::S_IFBLK | 0o600)), RET_EPERM);
        assert_eq!(native(&f, "mknod", mknod(libc::S_IFIFO | 0o600)), RET_ALLOW);
        assert_eq!(
            native(&f, "mknodat", [0, 0, u64::from(libc::S_IFCHR), 0, 0, 0]),
            RET_EPERM
        );

        let open = Allowances {
            set_hostname: true,
            mount: true,
            raw_sockets: true,
            sysvipc: true,
            nested_userns: true,
            ptrace: true,
            chroot: true,
            mknod: true,
            socket_families: vec![libc::AF_UNIX, libc::AF_INET, libc::AF_PACKET],
        };
        let f = compile_with(&[], &[], &open).unwrap();
        for name in [
            "sethostname",
            "shmget",
            "ptrace",
            "chroot",
            "mount",
            "fsopen",
            "mount_setattr",
        ] {
            assert_eq!(native(&f, name, z), RET_ALLOW, "{name} with every allowance on");
        }
        assert_eq!(native(&f, "pivot_root", z), RET_EPERM, "pivot_root stays denied");
        assert_eq!(native(&f, "socket", sock(libc::AF_INET, libc::SOCK_RAW)), RET_ALLOW);
        assert_eq!(native(&f, "socket", sock(libc::AF_PACKET, libc::SOCK_RAW)), RET_ALLOW);
        assert_eq!(
            native(&f, "socket", sock(libc::AF_ALG, libc::SOCK_SEQPACKET)),
            RET_EPERM
        );
        let newuser = [u64::from(libc::CLONE_NEWUSER.unsigned_abs()), 0, 0, 0, 0, 0];
        assert_eq!(native(&f, "unshare", newuser), RET_ALLOW);
        let lines = describe_with(&[], &[], &strict);
        assert!(
            lines
                .iter()
                .any(|l| l == "sethostname: EPERM (allow.set_hostname is off)"),
            "{lines:#?}"
        );
    }

    // ---- the real kernel, in forked children

    /// Installs `filters` (after no_new_privs) in a forked child, makes each
    /// call, and returns `(result, errno)` per call. Everything is prepared
    /// before the fork; the child does not allocate.
    fn run_calls(filters: Option<&SeccompFilters>, calls: &[(i64, [u64; 6])]) -> Vec<(i64, i32)> {
        let (rd, wr) = nix::unistd::pipe().unwrap();
        let status = in_child(|| {
            if set_no_new_privs().is_err() {
                return 90;
            }
            if let Some(f) = filters
                && install(f).is_err()
            {
                return 91;
            }
            for &(nr, args) in calls {
                let (ret, errno) = raw_syscall(nr, args);
                if ret == 0 && (nr == libc::SYS_clone || nr == libc::SYS_fork) {
                    // We are the new child of a clone that should have failed.
                    crate::sys::seccomp::exit_immediately(0);
                }
                let mut rec = [0u8; 12];
                rec[..8].copy_from_slice(&ret.to_le_bytes());
                rec[8..].copy_from_slice(&errno.to_le_bytes());
                if nix::unistd::write(&wr, &rec) != Ok(rec.len()) {
                    return 92;
                }
            }
            0
        });
        assert_eq!(status, 0, "child failed (90: nnp, 91: install, 92: write)");
        drop(wr);
        let mut buf = vec![0u8; 12 * calls.len() + 1];
        let mut len = 0;
        loop {
            match nix::unistd::read(&rd, &mut buf[len..]).unwrap() {
                0 => break,
                n => len += n,
            }
        }
        assert_eq!(len, 12 * calls.len());
        buf[..len]
            .chunks(12)
            .map(|c| {
                (
                    i64::from_le_bytes(c[..8].try_into().unwrap()),
                    i32::from_le_bytes(c[8..].try_into().unwrap()),
                )
            })
            .collect()
    }

    fn sys(name: &str) -> i64 {
        syscalls::number(name).unwrap()
    }

    #[test]
    fn seccomp_kernel_denies_the_default_list() {
        let f = default_filters();
        let names = [
            "keyctl",
            "bpf",
            "kexec_load",
            "init_module",
            "open_by_handle_at",
            "userfaultfd",
            "io_uring_setup",
            "perf_event_open",
            "mount",
        ];
        // Zero/null arguments: harmless should a filter fail.
        let calls: Vec<_> = names.iter().map(|n| (sys(n), [0; 6])).collect();
        for (name, got) in names.iter().zip(run_calls(Some(&f), &calls)) {
            assert_eq!(got, (-1, libc::EPERM), "{name}");
        }
    }

    #[test]
    fn seccomp_kernel_enosys_for_clone3_and_unknown_calls() {
        let f = default_filters();
        let calls = [(sys("clone3"), [0; 6]), (1000, [0; 6])];
        let got = run_calls(Some(&f), &calls);
        assert_eq!(got, [(-1, libc::ENOSYS), (-1, libc::ENOSYS)]);
        // Without the filter clone3 is a real call (EFAULT/EINVAL on null).
        let got = run_calls(None, &calls[..1]);
        assert_ne!(got[0], (-1, libc::ENOSYS));
    }

    #[test]
    fn seccomp_kernel_nested_user_namespaces() {
        let f = default_filters();
        let newuser = libc::CLONE_NEWUSER as u64;
        let sigchld = libc::SIGCHLD as u64;
        let calls = [
            (libc::SYS_unshare, [newuser, 0, 0, 0, 0, 0]),
            (libc::SYS_unshare, [0; 6]),
            (libc::SYS_clone, [newuser | sigchld, 0, 0, 0, 0, 0]),
        ];
        let got = run_calls(Some(&f), &calls);
        assert_eq!(got, [(-1, libc::EPERM), (0, 0), (-1, libc::EPERM)]);
    }

    #[test]
    fn seccomp_kernel_socket_families() {
        let f = default_filters();
        let mut sv = [-1i32; 2];
        let sv_ptr = sv.as_mut_ptr() as u64;
        let stream = libc::SOCK_STREAM as u64;
        let calls = [
            (
                libc::SYS_socket,
                [libc::AF_ALG as u64, libc::SOCK_SEQPACKET as u64, 0, 0, 0, 0],
            ),
            (
                libc::SYS_socket,
                [libc::AF_PACKET as u64, libc::SOCK_RAW as u64, 0, 0, 0, 0],
            ),
            (libc::SYS_socket, [libc::AF_UNIX as u64, stream, 0, 0, 0, 0]),
            (libc::SYS_socketpair, [libc::AF_UNIX as u64, stream, 0, sv_ptr, 0, 0]),
            (libc::SYS_socketpair, [libc::AF_ALG as u64, stream, 0, sv_ptr, 0, 0]),
        ];
        let got = run_calls(Some(&f), &calls);
        assert_eq!(got[0], (-1, libc::EPERM));
        assert_eq!(got[1], (-1, libc::EPERM));
        assert!(got[2].0 >= 0, "socket(AF_UNIX): {:?}", got[2]);
        assert_eq!(got[3], (0, 0));
        assert_eq!(got[4], (-1, libc::EPERM));
    }

    #[test]
    fn seccomp_kernel_tiocsti_with_high_bits() {
        let f = default_filters();
        let pty = nix::pty::openpty(None, None).unwrap();
        let fd = pty.slave.as_raw_fd() as u64;
        let byte = 0u8;
        let ch = &raw const byte as u64;
        let mut ws = libc::winsize {
            ws_row: 0,
            ws_col: 0,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let ws_ptr = &raw mut ws as u64;
        let sti = libc::TIOCSTI;
        let calls = [
            (libc::SYS_ioctl, [fd, sti, ch, 0, 0, 0]),
            (libc::SYS_ioctl, [fd, sti | 1 << 32, ch, 0, 0, 0]),
            (libc::SYS_ioctl, [fd, libc::TIOCLINUX, ch, 0, 0, 0]),
            (libc::SYS_ioctl, [fd, libc::TIOCGWINSZ, ws_ptr, 0, 0, 0]),
        ];
        let got = run_calls(Some(&f), &calls);
        assert_eq!(got[0], (-1, libc::EPERM));
        assert_eq!(got[1], (-1, libc::EPERM));
        assert_eq!(got[2], (-1, libc::EPERM));
        assert_eq!(got[3], (0, 0));
        // Unfiltered, the kernel truncates the request to 32 bits: the
        // high-bit request is a real TIOCSTI (hence the CVE). Root may
        // inject (0); without the capability the answer is EIO or EPERM
        // from the tty layer, never ENOTTY/EINVAL.
        let got = run_calls(None, &calls[1..2]);
        assert!(
            got[0] == (0, 0) || got[0] == (-1, libc::EIO) || got[0] == (-1, libc::EPERM),
            "{got:?}"
        );
    }

    #[test]
    fn seccomp_kernel_personality() {
        let f = default_filters();
        let calls = [
            (libc::SYS_personality, [0x0008, 0, 0, 0, 0, 0]),
            (libc::SYS_personality, [0x040_0000, 0, 0, 0, 0, 0]),
            (libc::SYS_personality, [0xffff_ffff, 0, 0, 0, 0, 0]),
        ];
        let got = run_calls(Some(&f), &calls);
        assert!(got[0].0 >= 0, "{:?}", got[0]);
        assert_eq!(got[1], (-1, libc::EPERM));
        assert_eq!(got[2], (0x0008, 0), "the query sees UNAME26 set");
    }

    #[test]
    fn seccomp_kernel_policy_allow_and_deny() {
        let mut buf = [0u8; 256];
        let calls = [
            (libc::SYS_mount, [0; 6]),
            (
                libc::SYS_getcwd,
                [buf.as_mut_ptr() as u64, buf.len() as u64, 0, 0, 0, 0],
            ),
        ];
        let f = compile(&strings(&["getcwd"]), &strings(&["mount"])).unwrap();
        let got = run_calls(Some(&f), &calls);
        assert_eq!(got[0], (-1, libc::EFAULT), "mount(NULL...) reaches the kernel");
        assert_eq!(got[1], (-1, libc::EPERM));
        let got = run_calls(Some(&default_filters()), &calls);
        assert_eq!(got[0], (-1, libc::EPERM));
        assert!(got[1].0 > 0, "{:?}", got[1]);
    }

    #[test]
    fn seccomp_install_does_not_set_no_new_privs() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs CAP_SYS_ADMIN to install without no_new_privs");
            return;
        }
        let f = default_filters();
        let status = in_child(|| {
            if install(&f).is_err() {
                return 1;
            }
            let prctl = |op: i32| raw_syscall(libc::SYS_prctl, [op as u64, 0, 0, 0, 0, 0]);
            if prctl(libc::PR_GET_NO_NEW_PRIVS) != (0, 0) {
                return 2;
            }
            // Filter mode, and the deny filter is in force.
            if prctl(libc::PR_GET_SECCOMP) != (2, 0) {
                return 3;
            }
            if raw_syscall(libc::SYS_keyctl, [0; 6]) != (-1, libc::EPERM) {
                return 4;
            }
            0
        });
        assert_eq!(status, 0);
    }

    #[test]
    fn seccomp_kernel_ordinary_calls_work() {
        let f = default_filters();
        let msg = b"x";
        let (rd, wr) = nix::unistd::pipe().unwrap();
        let calls = [
            (libc::SYS_getpid, [0; 6]),
            (
                libc::SYS_write,
                [wr.as_raw_fd() as u64, msg.as_ptr() as u64, 1, 0, 0, 0],
            ),
            (libc::SYS_capget, [0; 6]),
        ];
        let got = run_calls(Some(&f), &calls);
        assert!(got[0].0 > 0, "{:?}", got[0]);
        assert_eq!(got[1], (1, 0));
        assert_eq!(got[2], (-1, libc::EFAULT), "capget reaches the kernel");
        drop(wr);
        let mut b = [0u8; 2];
        assert_eq!(nix::unistd::read(&rd, &mut b), Ok(1));
    }
}
