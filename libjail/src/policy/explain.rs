//! A resolved policy in plain words: what `jailctl policy explain` prints
//! and what the daemon can show for a jail.
//!
//! Sections, in order: what the policy is for; ids and what they mean for
//! the host; capabilities; allowances and how each is enforced; Landlock;
//! masked and read-only paths; volumes; system calls; the rest (privileges,
//! limits, who runs what).

use super::{
    AllowPolicy, IdMode, InitMode, LandlockMode, LandlockPolicy, MANDATORY_PROC_MASKED, MANDATORY_PROC_READONLY,
    MANDATORY_SYS_MASKED, MANDATORY_SYS_READONLY, MountPolicy, NetMode, NetworkPolicy, Policy, ResourcesPolicy, Rlimit,
    RootMode, effective_capabilities, implied_capabilities, show_bytes,
};
use crate::capability::{self, CapMask};
use crate::idmap::{IdPool, SLOT_SIZE};

/// Text width the paragraphs are wrapped to.
const WIDTH: usize = 100;

/// `policy` in plain words, one section after another, ending in a newline.
pub fn explain(policy: &Policy) -> String {
    let mut out = Text::default();
    out.heading("Policy");
    out.para(2, &policy.description);

    ids(&mut out, policy);
    capabilities(&mut out, policy);
    allowances(&mut out, &policy.allow);
    landlock(&mut out, &policy.landlock, &policy.allow);
    paths(&mut out, policy);
    volumes(&mut out, policy);
    syscalls(&mut out, policy);
    resources(&mut out, &policy.resources);
    network(&mut out, &policy.network, policy.allow.raw_sockets);
    rest(&mut out, policy);
    out.0
}

/// Text being built: headings, wrapped paragraphs and bullet lists.
#[derive(Default)]
struct Text(String);

impl Text {
    /// A section heading (`Title:` or `Title: value`), after a blank line
    /// unless it is the first.
    fn heading(&mut self, title: &str) {
        if !self.0.is_empty() {
            self.0.push('\n');
        }
        self.0.push_str(title);
        if !title.contains(": ") {
            self.0.push(':');
        }
        self.0.push('\n');
    }

    /// A table row: `label` padded to `width` columns, then `text` wrapped
    /// with continuation lines under the text.
    fn row(&mut self, indent: usize, width: usize, label: &str, text: &str) {
        self.0.push_str(&" ".repeat(indent));
        self.0.push_str(&format!("{label:<width$}"));
        self.wrapped(1, indent + width + 1, text);
    }

    /// `text` wrapped at [`WIDTH`], every line indented by `indent`.
    fn para(&mut self, indent: usize, text: &str) {
        self.wrapped(indent, indent, text);
    }

    /// A bullet `- text`, wrapped with continuation lines under the text.
    fn bullet(&mut self, indent: usize, text: &str) {
        self.0.push_str(&" ".repeat(indent));
        self.0.push_str("- ");
        self.wrapped(0, indent + 2, text);
    }

    /// `text` wrapped: the first line gets `first` spaces (after whatever is
    /// already on the line), the others `rest`.
    fn wrapped(&mut self, first: usize, rest: usize, text: &str) {
        self.0.push_str(&" ".repeat(first));
        let mut column = self.0.rsplit('\n').next().map_or(0, |line| line.chars().count());
        let mut fresh = true;
        for word in text.split_whitespace() {
            let len = word.chars().count();
            if !fresh && column + 1 + len > WIDTH {
                self.0.push('\n');
                self.0.push_str(&" ".repeat(rest));
                column = rest;
                fresh = true;
            }
            if !fresh {
                self.0.push(' ');
                column += 1;
            }
            self.0.push_str(word);
            column += len;
            fresh = false;
        }
        self.0.push('\n');
    }
}

/// `a, b and c`, or `none`.
fn list(items: &[String]) -> String {
    match items {
        [] => "none".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The names in `mask`, as [`list`] joins them.
fn cap_list(mask: CapMask) -> String {
    list(&mask.names())
}

fn ids(out: &mut Text, policy: &Policy) {
    let ids = &policy.ids;
    let title = match (ids.mode, ids.root) {
        (IdMode::Passthrough, RootMode::Remap) => "Ids: passthrough, root remapped".to_string(),
        (mode, _) => format!("Ids: {mode}"),
    };
    out.heading(&title);
    match (ids.mode, ids.root) {
        (IdMode::Isolated, _) => {
            out.para(
                2,
                &format!(
                    "uid_map and gid_map `0 BASE {SLOT_SIZE}`: the jail's ids 0 to {} are the host ids BASE to \
                     BASE+{}, with BASE leased for this jail alone from jaild's id pool ({} and up by default). \
                     The jail's root is an unprivileged host uid that owns nothing outside the jail. The rootfs is \
                     seen through an idmapped mount, so files on disk keep their ids (uid 0 on disk is the jail's \
                     root).",
                    SLOT_SIZE - 1,
                    SLOT_SIZE - 1,
                    IdPool::DEFAULT_START
                ),
            );
        }
        (IdMode::Shifted, _) => {
            out.para(
                2,
                &format!(
                    "As isolated for the jail's processes (`0 BASE {SLOT_SIZE}`, a private range), but without an \
                     idmapped mount, for file systems that cannot do one: the rootfs must already be owned by the \
                     jail's range, chowned once with `jail-rootfs shift`. jaild refuses to start a rootfs whose \
                     ownership does not fit, and prints the command to run."
                ),
            );
        }
        (IdMode::Custom, _) => {
            let uid = ids.map.as_ref().map_or_else(|| "none".to_string(), ToString::to_string);
            let gid = ids.gid_map.as_ref().map_or_else(|| uid.clone(), ToString::to_string);
            out.para(
                2,
                &format!(
                    "The policy's own maps (JAIL:HOST:COUNT): uids {uid}; gids {gid}. The rootfs is not idmapped: \
                     files on disk are seen through these maps, and ids they do not cover appear as nobody."
                ),
            );
            let root_is_host_root = ids.map.as_ref().and_then(|m| m.to_host(0)) == Some(0);
            if root_is_host_root {
                out.para(
                    2,
                    "Warning: the map sends the jail's uid 0 to host uid 0: the kernel's uid checks treat the \
                     jail's root as host root, as in passthrough mode.",
                );
            }
        }
        (IdMode::Passthrough, RootMode::Passthrough) => {
            out.para(
                2,
                "uid_map and gid_map `0 0 4294967295`: uid and gid N in the jail are uid and gid N on the host, \
                 and files on disk are untranslated, as in a BSD jail. The jail's root IS host uid 0: it holds no \
                 capability outside its own user namespace, but every kernel check that looks at the uid rather \
                 than a capability treats it as host root:",
            );
            passthrough_checks(out, "the jail's root", "host uid 0");
            out.para(
                2,
                "That is why a fresh procfs or sysfs must never be mountable (the masks over-mount /proc and /sys \
                 entries, which makes the kernel refuse a new, fully visible one), why /proc/sys, /sys and the \
                 masks are read-only and their mounts locked (a jail cannot unmount them to uncover what is \
                 below), and why `nodev` matters on the rootfs and on every volume. The jail root directory's \
                 parent must be reachable by host root only, since files on disk are owned by real low host \
                 uids, setuid-root programs included. Prefer `root: remap`.",
            );
        }
        (IdMode::Passthrough, RootMode::Remap) => {
            out.para(
                2,
                &format!(
                    "The jail's root (uid and gid 0) is the dedicated host uid and gid {r}; every other id \
                     passes through (uid N in the jail is uid N on the host), except that jail id {r} itself has \
                     no mapping, since its host id is taken by the jail's root. The rootfs is seen through an idmapped mount that maps \
                     disk uid 0 to {r}, so the files root creates are uid 0 on disk. No kernel check sees host \
                     root in the jail; the other ids still share their host identities:",
                    r = ids.remap_uid
                ),
            );
            out.bullet(
                4,
                "signals and ptrace: host processes of uid N can signal, and with ptrace permission trace, jail \
                 processes of uid N (jail processes stay non-dumpable where possible);",
            );
            out.bullet(
                4,
                "RLIMIT_NPROC and other per-user accounting: jail processes of uid N count against host uid N;",
            );
            out.bullet(
                4,
                "files of uid N on the host, reached through a volume, are the jail's uid N's to change.",
            );
            out.para(
                2,
                &format!(
                    "Host uid {} must belong to no account and to no other jail, and lie outside jaild's id pool.",
                    ids.remap_uid
                ),
            );
        }
    }
}

/// The kernel checks that treat `who` (the jail's root) as `host` (host
/// uid 0) in pass-through mode, as bullets.
fn passthrough_checks(out: &mut Text, who: &str, host: &str) {
    for text in [
        format!(
            "sysctl files in /proc/sys: writable by their owner, {host}, without any capability; a writable \
             /proc/sys would let {who} change host-wide knobs (it is read-only; only /proc/sys/net, which \
             belongs to the jail's network namespace, can be left writable);"
        ),
        format!(
            "sysfs attributes: owned by {host} and mode 0644, so writable by {who} through any sysfs it could \
             mount or write (/sys is read-only and masked);"
        ),
        format!(
            "device nodes: a node owned by {host} opens for {who} wherever the mount has no `nodev` (the jail's \
             /dev holds only the bound safe devices; a user namespace can never create real nodes);"
        ),
        format!(
            "keyrings: keys owned by {host} pass the owner check for {who} (keyctl, add_key and request_key are \
             denied by seccomp and /proc/keys is masked);"
        ),
        format!(
            "RLIMIT_NPROC: the kernel exempts {host} from it, so {who} can fork past any nproc limit, and jail \
             processes of uid N count against host uid N;"
        ),
        format!(
            "signals and ptrace from the host: host processes of uid N can signal, and with ptrace permission \
             trace, jail processes of uid N, {who} included (FreeBSD's allow.unprivileged_parent_tampering); \
             jail processes stay non-dumpable where possible."
        ),
    ] {
        out.bullet(4, &text);
    }
}

fn capabilities(out: &mut Text, policy: &Policy) {
    out.heading("Capabilities (held only in the jail's own user namespace)");
    let effective = effective_capabilities(policy);
    let mask = policy.capabilities;
    out.bullet(2, &format!("in the policy's mask: {}", cap_list(mask)));
    let implied: Vec<String> = implied_capabilities(&policy.allow)
        .into_iter()
        .filter(|&(_, nr)| !mask.contains(nr))
        .map(|(allowance, nr)| format!("{} (allow.{allowance})", capability::name(nr).unwrap_or("?")))
        .collect();
    if !implied.is_empty() {
        out.bullet(2, &format!("added by allowances: {}", list(&implied)));
    }
    let removed = CapMask(mask.0 & !effective.0);
    if removed != CapMask::EMPTY {
        out.bullet(
            2,
            &format!(
                "removed: {} (allow.chroot is off, which takes SYS_CHROOT out even when the mask lists it)",
                cap_list(removed)
            ),
        );
    }
    out.bullet(2, &format!("kept: {}", cap_list(effective)));
    let holder = if policy.user == "root" && effective == CapMask::EMPTY {
        "The payload runs as root but holds no capability".to_string()
    } else if policy.user == "root" {
        "The payload runs as root and holds exactly these (its bounding and ambient sets)".to_string()
    } else {
        format!(
            "The payload runs as `{}`, a non-root user, and holds none of them; they bound what any process of \
             the jail can ever hold",
            policy.user
        )
    };
    out.para(
        2,
        &format!(
            "{holder}. Every other capability is dropped from the bounding set; the securebits NOROOT, \
             NO_SETUID_FIXUP and KEEP_CAPS are locked, so exec of a setuid-root or file-capability program gains \
             nothing. A capability in a user namespace acts only on what that namespace owns: the jail's files, \
             processes, IPC, UTS and network namespaces."
        ),
    );
    let sys_admin = capability::number("SYS_ADMIN").unwrap_or(21);
    if effective.contains(sys_admin) {
        out.para(
            2,
            "SYS_ADMIN is held so that the allowances work; seccomp narrows it to what they allow (no mount \
             family without allow.mount, no new user namespace without allow.nested_userns, no setns into other \
             namespaces, keyrings, bpf, ...).",
        );
    }
}

/// `on`/`off` for a switch.
fn on(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

fn allowances(out: &mut Text, allow: &AllowPolicy) {
    out.heading("Allowances (FreeBSD's allow.*; enforced by seccomp and the kernel's user-namespace rules)");
    let types = list(&allow.mount_types);
    let lines: [(&str, bool, String); 9] = [
        (
            "set_hostname",
            allow.set_hostname,
            if allow.set_hostname {
                "sethostname and setdomainname change the jail's own UTS namespace (CAP_SYS_ADMIN, granted for \
                 this and narrowed by seccomp)"
                    .to_string()
            } else {
                "sethostname and setdomainname fail with EPERM (seccomp)".to_string()
            },
        ),
        (
            "mount",
            allow.mount,
            if allow.mount {
                format!(
                    "the mount family reaches the kernel (CAP_SYS_ADMIN); intended types: {types}. The kernel's \
                     user-namespace mount rule is the boundary: only file systems it lets a user namespace mount \
                     can be mounted, and seccomp cannot read the fstype string, so mount_types is not enforced \
                     beyond that rule. A fresh proc or sysfs is refused by the kernel because the jail's are \
                     partly masked, and the mounts jaild made are locked: they cannot be unmounted or made \
                     writable"
                )
            } else {
                "mount, umount2, pivot_root, move_mount, open_tree, fsopen, fsconfig, fsmount, fspick and \
                 mount_setattr fail with EPERM (seccomp); the mounts jaild made are locked anyway"
                    .to_string()
            },
        ),
        (
            "raw_sockets",
            allow.raw_sockets,
            if allow.raw_sockets {
                "raw inet and inet6 sockets (SOCK_RAW) and, when socket_families lists `packet`, AF_PACKET \
                 sockets open in the jail's own network namespace (CAP_NET_RAW)"
                    .to_string()
            } else {
                "raw inet and inet6 sockets (SOCK_RAW) and AF_PACKET sockets fail with EPERM (seccomp)".to_string()
            },
        ),
        (
            "sysvipc",
            allow.sysvipc,
            if allow.sysvipc {
                "System V shared memory, semaphores and message queues work, in the jail's own IPC namespace"
                    .to_string()
            } else {
                "shmget, semget, msgget and the other System V IPC calls fail with EPERM (seccomp); POSIX shared \
                 memory (/dev/shm) and message queues are not affected"
                    .to_string()
            },
        ),
        (
            "nested_userns",
            allow.nested_userns,
            if allow.nested_userns {
                "clone and unshare with CLONE_NEWUSER work: a nested user namespace gets a full capability set \
                 over the namespaces it creates (never over the jail's), which opens much more kernel code"
                    .to_string()
            } else {
                "clone and unshare with CLONE_NEWUSER fail with EPERM (seccomp; clone3, whose flags cannot be \
                 filtered, is ENOSYS), and user.max_user_namespaces is 0 in the jail's user namespace, so no \
                 nested namespace can reset the securebits or the bounding set"
                    .to_string()
            },
        ),
        (
            "ptrace",
            allow.ptrace,
            if allow.ptrace {
                "ptrace, process_vm_readv and process_vm_writev work between the jail's own processes \
                 (CAP_SYS_PTRACE)"
                    .to_string()
            } else {
                "ptrace, process_vm_readv and process_vm_writev fail with EPERM (seccomp)".to_string()
            },
        ),
        (
            "chroot",
            allow.chroot,
            if allow.chroot {
                "chroot(2) works (CAP_SYS_CHROOT)".to_string()
            } else {
                "chroot(2) fails: CAP_SYS_CHROOT is taken out of the mask, and seccomp refuses it".to_string()
            },
        ),
        (
            "mknod",
            allow.mknod,
            if allow.mknod {
                "mknod of character and block nodes reaches the kernel (CAP_MKNOD), which never lets a user \
                 namespace create a real device node: only whiteouts (0:0) for overlayfs can be made"
                    .to_string()
            } else {
                "mknod and mknodat of character and block nodes fail with EPERM (seccomp); FIFOs, sockets and \
                 regular files still work"
                    .to_string()
            },
        ),
        (
            "socket_families",
            true,
            format!(
                "socket and socketpair accept only {}; other address families are refused (seccomp)",
                list(&allow.socket_families)
            ),
        ),
    ];
    for (name, value, text) in lines {
        let state = if name == "socket_families" { "" } else { on(value) };
        out.row(2, 20, &format!("{name:<15} {state}"), &format!("{text}."));
    }
}

/// `any port`, `no port` or `only ports 80, 443`.
fn ports(rule: &Option<Vec<u16>>) -> String {
    match rule.as_deref() {
        None => "any port".to_string(),
        Some([]) => "no port".to_string(),
        Some(ports) => {
            let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
            format!("only port{} {}", if ports.len() == 1 { "" } else { "s" }, list(&ports))
        }
    }
}

fn landlock(out: &mut Text, landlock: &LandlockPolicy, allow: &AllowPolicy) {
    out.heading(&format!("Landlock: {}", landlock.mode));
    let mode = match landlock.mode {
        LandlockMode::Off => {
            out.para(2, "No Landlock ruleset is applied; the rules below are ignored.");
            return;
        }
        LandlockMode::BestEffort => {
            "Applied last before seccomp, as far as the running kernel supports (file rules need ABI 1, TCP \
             ports ABI 4, scopes ABI 6); what was left out is reported (`jailctl run --verbose`)."
        }
        LandlockMode::Required => {
            "Applied last before seccomp; the jail refuses to start unless the kernel enforces every rule \
             below (file rules need ABI 1, TCP ports ABI 4, scopes ABI 6)."
        }
    };
    out.para(2, mode);
    let fs_rules = !landlock.readonly.is_empty() || !landlock.noexec.is_empty();
    let skipped = if allow.mount && fs_rules {
        " (skipped: allow.mount is on)"
    } else {
        ""
    };
    out.bullet(
        2,
        &format!(
            "read-only (read and execute, never write){skipped}: {}",
            list(&landlock.readonly)
        ),
    );
    out.bullet(2, &format!("no-exec{skipped}: {}", list(&landlock.noexec)));
    out.bullet(2, &format!("TCP bind: {}", ports(&landlock.tcp_bind)));
    out.bullet(2, &format!("TCP connect: {}", ports(&landlock.tcp_connect)));
    let scopes: Vec<String> = landlock
        .scopes
        .iter()
        .map(|s| match s.as_str() {
            "abstract_unix_socket" => "abstract unix sockets (no connecting to ones made outside the jail)".to_string(),
            "signal" => "signals (none to processes outside the jail)".to_string(),
            other => other.to_string(),
        })
        .collect();
    out.bullet(2, &format!("scoped: {}", list(&scopes)));
    if allow.mount {
        out.para(
            2,
            "With allow.mount on, the file-system rules are skipped: Landlock forbids every mount topology \
             change (mount, unmount, pivot_root) to a domain that restricts file access, so the two cannot be \
             had together. The TCP and scope rules still apply.",
        );
    } else if fs_rules {
        let partitioned = landlock.readonly.iter().chain(&landlock.noexec).any(|p| p != "/");
        let mut text = "The file-system rules also forbid mount topology changes inside the jail (moot while \
                        allow.mount is off)."
            .to_string();
        if !allow.mount && landlock.readonly.iter().any(|p| p == "/") {
            text.push_str(
                " Under a read-only /, the bound safe devices and /dev/pts stay writable, so `> /dev/null` \
                 works.",
            );
        }
        if partitioned {
            text.push_str(
                " Landlock rules only grant, so a restricted path is carved out by granting each sibling on the \
                 way from / to it: creating entries directly in those directories (in / itself, say) is refused.",
            );
        }
        out.para(2, &text);
    }
}

/// `path` with ` (mandatory)` when it is in `mandatory`.
fn marked(paths: &[String], mandatory: &[&str]) -> String {
    let marked: Vec<String> = paths
        .iter()
        .map(|p| {
            if mandatory.contains(&p.as_str()) {
                format!("{p} (mandatory)")
            } else {
                p.clone()
            }
        })
        .collect();
    list(&marked)
}

fn paths(out: &mut Text, policy: &Policy) {
    out.heading("Paths");
    let r = &policy.rootfs;
    let flags = |readonly: bool, nosuid: bool, nodev: bool, noexec: bool| {
        let mut f = vec![if readonly { "read-only" } else { "read-write" }];
        f.extend(nosuid.then_some("nosuid"));
        f.extend(nodev.then_some("nodev"));
        f.extend(noexec.then_some("noexec"));
        f.join(", ")
    };
    out.bullet(
        2,
        &format!("rootfs (/): {}", flags(r.readonly, r.nosuid, r.nodev, false)),
    );
    if !r.nosuid {
        out.para(
            4,
            "setuid bits are honoured: a setuid program changes uid, but a setuid-root one gains no capability \
             (NOROOT is locked).",
        );
    }
    out.bullet(
        2,
        &format!("/proc masked: {}", marked(&policy.proc.masked, MANDATORY_PROC_MASKED)),
    );
    out.bullet(
        2,
        &format!(
            "/proc read-only: {}",
            marked(&policy.proc.readonly, MANDATORY_PROC_READONLY)
        ),
    );
    out.bullet(
        2,
        if policy.proc.sys_net_writable {
            "/proc/sys/net: writable (it belongs to the jail's own network namespace)"
        } else {
            "/proc/sys/net: read-only"
        },
    );
    out.bullet(2, "/sys: read-only as a whole");
    out.bullet(
        2,
        &format!("/sys masked: {}", marked(&policy.sys.masked, MANDATORY_SYS_MASKED)),
    );
    if !policy.sys.readonly.is_empty() {
        out.bullet(
            2,
            &format!(
                "/sys read-only: {}",
                marked(&policy.sys.readonly, MANDATORY_SYS_READONLY)
            ),
        );
    }
    let devices: Vec<String> = policy.devices.iter().map(|d| format!("/dev/{d}")).collect();
    out.bullet(
        2,
        &format!(
            "/dev: a fresh tmpfs with {}, bound from the host, plus /dev/pts, /dev/shm and /dev/mqueue",
            list(&devices)
        ),
    );
    out.para(
        2,
        "Masked means hidden behind /dev/null or an empty read-only tmpfs. Mandatory entries are there whatever \
         the policy says. Every mount jaild makes is locked: the jail cannot unmount it or remount it writable.",
    );
}

fn volumes(out: &mut Text, policy: &Policy) {
    out.heading("Volumes");
    if policy.mounts.is_empty() {
        out.para(2, "none");
        return;
    }
    let host_root = policy.ids.mode == IdMode::Passthrough && policy.ids.root == RootMode::Passthrough;
    for MountPolicy {
        source,
        target,
        readonly,
        nosuid,
        nodev,
        noexec,
        create,
        map,
    } in &policy.mounts
    {
        let mut flags = vec![if *readonly { "read-only" } else { "read-write" }];
        flags.extend(nosuid.then_some("nosuid"));
        flags.extend(nodev.then_some("nodev"));
        flags.extend(noexec.then_some("noexec"));
        let mut text = format!("{source} on {target} ({})", flags.join(", "));
        if *create {
            text.push_str(", created in the rootfs when missing");
        }
        match map {
            Some(map) => {
                let root = map.to_host(0).map_or_else(
                    || "cannot write there as itself".to_string(),
                    |h| format!("writes as host uid {h}"),
                );
                text.push_str(&format!("; its own id map {map} (the jail's root {root})"));
            }
            None => text.push_str("; no id map of its own: host ids are seen through the jail's user namespace"),
        }
        out.bullet(2, &text);
        if !nodev && host_root {
            out.para(
                4,
                "Warning: without nodev, device nodes on this volume owned by host uid 0 open for the jail's \
                 root (pass-through ids).",
            );
        }
        if !nosuid {
            out.para(4, "setuid bits are honoured on this volume.");
        }
    }
    out.para(
        2,
        "Targets are resolved inside the jail's root (openat2 with RESOLVE_IN_ROOT), so a symlink in the rootfs \
         cannot send a volume elsewhere on the host.",
    );
}

fn syscalls(out: &mut Text, policy: &Policy) {
    out.heading("System calls (seccomp, installed last before exec)");
    let allowances = crate::plan::allowances(policy);
    for line in crate::seccomp::describe_with(&policy.seccomp.deny, &policy.seccomp.allow, &allowances) {
        out.bullet(2, &line);
    }
}

fn resources(out: &mut Text, r: &ResourcesPolicy) {
    out.heading("Resources (the jail's own cgroup)");
    out.para(
        2,
        "The jail runs in a cgroup of its own, created below jaild's own cgroup (v2, or the v1 controllers on hosts \
         without v2 ones) and seen through its own cgroup namespace. Stop kills everything in it (cgroup.kill, or \
         freeze and kill on v1) and removes it.",
    );
    let limit = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), show_bytes);
    match &r.memory {
        Some(m) => {
            let mut text = format!("memory: max {}", limit(m.max));
            text.push_str(&format!(", swap {}", limit(m.swap)));
            text.push_str(&format!(", high {}", limit(m.high)));
            if m.max.is_some() {
                text.push_str("; above max the kernel reclaims, then OOM-kills a process inside the jail");
            }
            out.bullet(2, &text);
        }
        None => out.bullet(2, "memory: unlimited"),
    }
    match &r.pids {
        Some(p) => out.bullet(
            2,
            &format!(
                "tasks: at most {} processes and threads; fork fails with EAGAIN beyond (a fork bomb stops there)",
                p.max
            ),
        ),
        None => out.bullet(2, "tasks: unlimited"),
    }
    let cpu_max = r.cpu.and_then(|c| c.max);
    let cpu_weight = r.cpu.and_then(|c| c.weight);
    out.bullet(
        2,
        &match cpu_max {
            Some(cores) => format!(
                "CPU: at most {cores} cores' worth of time ({} µs every {} µs)",
                super::CpuLimits::quota_usec(cores),
                super::CPU_PERIOD_USEC
            ),
            None => "CPU: unlimited bandwidth".to_string(),
        },
    );
    if let Some(w) = cpu_weight {
        out.bullet(2, &format!("CPU weight: {w} (the default is 100)"));
    }
    if let Some(w) = r.io.and_then(|io| io.weight) {
        out.bullet(
            2,
            &format!("I/O weight: {w} (the default is 100; needs a disk scheduler with weights on the host)"),
        );
    }
    if let Some(c) = &r.cpuset {
        out.bullet(2, &format!("CPUs: {} only", c.cpus));
    }
}

fn network(out: &mut Text, n: &NetworkPolicy, raw_sockets: bool) {
    out.heading(&format!("Network: {}", n.mode));
    let addresses = if n.is_auto() {
        "one address from jaild's address pool (released when the jail is destroyed)".to_string()
    } else if n.address.is_empty() {
        "no address (IPv6 link-local only)".to_string()
    } else {
        format!("addresses {}", list(&n.address))
    };
    match n.mode {
        NetMode::None => out.para(
            2,
            "Its own network namespace with loopback only: the jail reaches nothing outside it, not even the \
             host's loopback.",
        ),
        NetMode::Bridge => out.para(
            2,
            &format!(
                "A veth pair: the host end (vj and a hash of the jail's name) on bridge {}{}; the jail end is its \
                 eth0, with {addresses}.",
                n.bridge.as_deref().unwrap_or("?"),
                if n.create_bridge {
                    ", created when missing"
                } else {
                    ", which must exist"
                },
            ),
        ),
        NetMode::Ipvlan | NetMode::Macvlan => out.para(
            2,
            &format!(
                "An {} interface on the host's {} as the jail's eth0, with {addresses}. The host cannot reach the \
                 jail through {} itself (the kernel's rule for {} children).",
                n.mode,
                n.parent.as_deref().unwrap_or("?"),
                n.parent.as_deref().unwrap_or("?"),
                n.mode,
            ),
        ),
    }
    if n.mode != NetMode::None {
        if let Some(gateway) = &n.gateway {
            out.bullet(2, &format!("default route via {gateway}"));
        } else if n.is_auto() {
            out.bullet(2, "default route via the pool's gateway (its first address)");
        } else {
            out.bullet(2, "no default route: only the addresses' own subnets are reachable");
        }
        if let Some(mtu) = n.mtu {
            out.bullet(2, &format!("MTU {mtu}"));
        }
        if let Some(mac) = &n.mac {
            out.bullet(2, &format!("MAC address {mac}"));
        }
        out.bullet(
            2,
            "everything the jail got (veth, pool lease) is removed when it stops, also after a crash of jaild",
        );
    }
    if n.write_hosts {
        out.bullet(
            2,
            "/etc/hosts written: localhost and the jail's addresses under its hostname",
        );
    }
    if n.write_resolv {
        out.bullet(
            2,
            &format!("/etc/resolv.conf written: nameservers {}", list(&n.nameservers)),
        );
    }
    out.bullet(
        2,
        &format!(
            "the jail owns its network namespace: its root may configure it (with NET_ADMIN in the mask) and \
             /proc/sys/net is its own; raw sockets (ping): {}",
            on(raw_sockets)
        ),
    );
}

fn rest(out: &mut Text, policy: &Policy) {
    out.heading("Process");
    out.bullet(
        2,
        if policy.no_new_privs {
            "no_new_privs: on: no exec can gain privileges; setuid programs (su, sudo) run without them"
        } else {
            "no_new_privs: off: setuid programs work (they change uid; NOROOT keeps setuid-root from gaining \
             capabilities)"
        },
    );
    if policy.rlimits.is_empty() {
        out.bullet(2, "rlimits: inherited from jaild");
    } else {
        let limits: Vec<String> = policy
            .rlimits
            .iter()
            .map(|(name, l)| {
                if l.soft == l.hard {
                    format!("{name} {}", Rlimit::show(l.soft))
                } else {
                    format!("{name} {}/{}", Rlimit::show(l.soft), Rlimit::show(l.hard))
                }
            })
            .collect();
        out.bullet(
            2,
            &format!(
                "rlimits (soft/hard): {}; the others inherited from jaild",
                list(&limits)
            ),
        );
    }
    out.bullet(2, &format!("user: {}", policy.user));
    out.bullet(2, &format!("working directory: {}", policy.workdir));
    out.bullet(
        2,
        match policy.init {
            InitMode::None => "init: none: the payload is pid 1",
            InitMode::Builtin => "init: builtin: a small reaper is pid 1; it forwards signals and reaps orphans",
        },
    );
    let names = [("hostname", &policy.hostname), ("domainname", &policy.domainname)];
    for (what, value) in names {
        if let Some(value) = value {
            out.bullet(2, &format!("{what}: {value}"));
        }
    }
    let env: Vec<String> = policy.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    out.bullet(2, &format!("environment: {}", list(&env)));
}
