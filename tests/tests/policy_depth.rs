//! Issue 3 from inside real jails: every allowance on and off, the seed's attack with
//! `allow.mount`, Landlock (read-only, no-exec, TCP ports, reported status), `root: remap`,
//! volumes with their own id map, shifted ids, and the shipped profiles.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::process::Output;
use std::time::Duration;

use common::{Mode, TestJail, assert_all_blocked, describe, jail_processes, require_root, status_field, stdout_text};

/// Runs `script` in a jail with `args` and returns its output.
fn sh(jail: &TestJail, args: &[&str], script: &str) -> Output {
    let out = jail.run(args, &["/bin/sh", "-c", script]);
    println!(
        "$ jailctl run {} -- sh -c {script:?}\n{}",
        args.join(" "),
        describe(&out)
    );
    out
}

/// The exit status of `script`, which must not be a jailctl error (125).
fn status_of(jail: &TestJail, args: &[&str], script: &str) -> i32 {
    let out = sh(jail, args, script);
    let code = out.status.code().expect("exit code");
    assert_ne!(code, 125, "jailctl itself failed\n{}", describe(&out));
    code
}

/// `script` succeeds with `on` and fails without it (default policy otherwise).
fn on_off(on: &[&str], off: &[&str], script: &str) {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    assert_eq!(status_of(&jail, on, script), 0, "with {on:?}, `{script}` must work");
    assert_ne!(status_of(&jail, off, script), 0, "with {off:?}, `{script}` must fail");
}

#[test]
fn set_hostname_allowance() {
    // On by default (FreeBSD's default too).
    on_off(
        &[],
        &["--set", "allow.set_hostname=false"],
        "hostname x && test \"$(hostname)\" = x",
    );
}

#[test]
fn mount_allowance() {
    on_off(
        &["--set", "allow.mount=true"],
        &[],
        "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m && umount /tmp/m",
    );
}

#[test]
fn raw_sockets_allowance() {
    // The jail's loopback is up; ping needs a raw ICMP socket.
    on_off(&["--set", "allow.raw_sockets=true"], &[], "ping -c1 -W2 127.0.0.1");
}

#[test]
fn nested_userns_allowance() {
    on_off(&["--set", "allow.nested_userns=true"], &[], "unshare -U true");
}

#[test]
fn nested_userns_limited_even_when_seccomp_lets_it_through() {
    if !require_root() {
        return;
    }
    // Seccomp would allow it; user.max_user_namespaces = 0 in the jail's namespace still says no.
    let jail = TestJail::new();
    let out = sh(
        &jail,
        &["--set", "seccomp.allow=[unshare, clone]"],
        "cat /proc/sys/user/max_user_namespaces; unshare -U true; echo rc=$?",
    );
    let text = stdout_text(&out);
    assert!(
        text.starts_with("0\n"),
        "max_user_namespaces must be 0\n{}",
        describe(&out)
    );
    assert!(text.contains("rc=1"), "unshare -U must fail\n{}", describe(&out));
}

#[test]
fn chroot_allowance() {
    on_off(&["--set", "allow.chroot=true"], &[], "chroot / /bin/true");
}

#[test]
fn mknod_allowance() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    // A whiteout (char 0:0, for overlayfs) is what a user namespace may create, with the allowance.
    let whiteout = "mknod /tmp/wh c 0 0 && rm /tmp/wh";
    assert_eq!(status_of(&jail, &["--set", "allow.mknod=true"], whiteout), 0);
    assert_ne!(status_of(&jail, &[], whiteout), 0);
    // A real device never: the kernel refuses it in a user namespace either way.
    let disk = "mknod /tmp/sda b 8 0";
    assert_ne!(status_of(&jail, &["--set", "allow.mknod=true"], disk), 0);
    assert_ne!(status_of(&jail, &[], disk), 0);
    // FIFOs are fine without the allowance.
    assert_eq!(status_of(&jail, &[], "mknod /tmp/fifo p && rm /tmp/fifo"), 0);
}

#[test]
fn socket_families_allowance() {
    on_off(
        &[],
        &["--set", "allow.socket_families=[unix, netlink]"],
        "nc -l -p 8080 >/dev/null & sleep 0.2; echo hi | nc -w1 127.0.0.1 8080; rc=$?; kill %1 2>/dev/null; exit $rc",
    );
}

#[test]
fn ptrace_allowance_adds_the_capability_and_lifts_the_rule() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = sh(&jail, &["--set", "allow.ptrace=true"], "grep CapBnd /proc/self/status");
    let bnd = u64::from_str_radix(stdout_text(&out).split_whitespace().nth(1).unwrap_or("0"), 16).unwrap_or(0);
    assert_ne!(
        bnd & (1 << 19),
        0,
        "CAP_SYS_PTRACE in the bounding set\n{}",
        describe(&out)
    );
    let out = sh(&jail, &[], "grep CapBnd /proc/self/status");
    let bnd = u64::from_str_radix(stdout_text(&out).split_whitespace().nth(1).unwrap_or("0"), 16).unwrap_or(0);
    assert_eq!(bnd & (1 << 19), 0, "no CAP_SYS_PTRACE by default\n{}", describe(&out));
}

/// The seed's attack with the mount family allowed: a fresh procfs or sysfs still gives no write
/// to host knobs (the probe writes back only the value it read).
#[test]
fn seed_attack_with_mount_allowed() {
    if !require_root() {
        return;
    }
    let before = fs::read_to_string("/proc/sys/kernel/core_pattern").expect("core_pattern");
    let jail = TestJail::new();
    let args = ["--passthrough-ids", "--set", "allow.mount=true"];
    for attack in ["fresh-mounts", "mask-mounts", "proc-sys"] {
        let out = jail.probe(&args, &[attack]);
        assert_all_blocked(&out, attack);
    }
    // And the mount allowance really is on: a tmpfs mounts.
    assert_eq!(
        status_of(&jail, &args, "mkdir -p /tmp/t && mount -t tmpfs none /tmp/t"),
        0
    );
    assert_eq!(fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(), before);
}

#[test]
fn landlock_readonly_path_refuses_writes() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let args = ["--set", "landlock.readonly=[/etc]"];
    assert_ne!(status_of(&jail, &args, "echo x > /etc/landlock-test"), 0);
    assert_eq!(
        status_of(&jail, &args, "cat /etc/passwd >/dev/null && echo x > /tmp/ok"),
        0
    );
    assert!(!jail.root.join("etc/landlock-test").exists());
}

#[test]
fn landlock_noexec_path_refuses_exec() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let args = ["--set", "landlock.noexec=[/tmp]"];
    // busybox picks the applet by its name: a copy named `true` is `true`.
    assert_ne!(status_of(&jail, &args, "cp /bin/busybox /tmp/true && /tmp/true"), 0);
    assert_eq!(status_of(&jail, &args, "/bin/true"), 0);
    assert_eq!(status_of(&jail, &[], "cp /bin/busybox /tmp/true && /tmp/true"), 0);
}

#[test]
fn landlock_tcp_connect_outside_the_allowed_ports_fails() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let script = "nc -l -p 8080 >/dev/null & sleep 0.2; echo hi | nc -w1 127.0.0.1 8080; rc=$?; \
                  kill %1 2>/dev/null; exit $rc";
    assert_ne!(status_of(&jail, &["--set", "landlock.tcp_connect=[9]"], script), 0);
    assert_eq!(status_of(&jail, &["--set", "landlock.tcp_connect=[8080]"], script), 0);
    let bind_only_9 = ["--set", "landlock.tcp_bind=[9]"];
    assert_ne!(status_of(&jail, &bind_only_9, "nc -l -p 8080 -w1 </dev/null"), 0);
}

#[test]
fn landlock_status_matches_the_kernel_abi() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.run(&["-v"], &["/bin/true"]);
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    // The kernel's ABI version, asked directly (landlock_create_ruleset(NULL, 0, VERSION)); the
    // landlock crate in use knows ABIs up to 7.
    let abi = libjail::sys::landlock_abi().expect("Landlock is available on this kernel");
    let want = format!("landlock fully enforced, ABI {}", abi.min(7));
    assert!(
        err.contains(&want),
        "expected `{want}` (kernel ABI {abi})\n{}",
        describe(&out)
    );
}

#[test]
fn root_remap_runs_as_the_dedicated_uid_and_writes_uid_0() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let mut child = jail.spawn(
        &[
            "--passthrough-ids",
            "--set",
            "ids.root=remap",
            "--set",
            "ids.remap_uid=3000000000",
        ],
        &["/bin/sh", "-c", "touch /by-remapped-root; echo started; sleep 5"],
    );
    let pid = child.id();
    let mut uids = Vec::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        uids = jail_processes(pid)
            .into_iter()
            .filter_map(|p| status_field(p, "Uid"))
            .collect();
        if jail.root.join("by-remapped-root").exists() && !uids.is_empty() {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(!uids.is_empty(), "no jail process found");
    for u in &uids {
        assert!(
            u.starts_with("3000000000"),
            "the jail's root runs as host uid 3000000000, got {u}"
        );
    }
    let meta = fs::metadata(jail.root.join("by-remapped-root")).expect("file created by the jail's root");
    assert_eq!((meta.uid(), meta.gid()), (0, 0), "root-owned files stay uid 0 on disk");
}

#[test]
fn volume_with_its_own_map() {
    if !require_root() {
        return;
    }
    for mode in [Mode::Isolated, Mode::Passthrough] {
        let jail = TestJail::new();
        let shared = jail.base.join("shared");
        fs::create_dir(&shared).unwrap();
        std::os::unix::fs::chown(&shared, Some(1000), Some(1000)).unwrap();
        let vol = format!(
            "mounts=[{{source: {}, target: /mnt/shared, map: [\"0:1000:1\"]}}]",
            shared.display()
        );
        let mut args = mode.args().to_vec();
        args.extend(["--set", &vol]);
        let code = status_of(
            &jail,
            &args,
            "echo hi > /mnt/shared/hello && echo x > /etc/written-by-root",
        );
        assert_eq!(code, 0, "{mode:?}");
        let hello = fs::metadata(shared.join("hello")).unwrap();
        assert_eq!(
            (hello.uid(), hello.gid()),
            (1000, 1000),
            "{mode:?}: the volume's map makes root host uid 1000"
        );
        let etc = fs::metadata(jail.root.join("etc/written-by-root")).unwrap();
        assert_eq!(
            (etc.uid(), etc.gid()),
            (0, 0),
            "{mode:?}: the rootfs's mapping writes uid 0"
        );
    }
}

#[test]
fn readonly_volume_and_missing_source() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let shared = jail.base.join("ro");
    fs::create_dir(&shared).unwrap();
    fs::write(shared.join("f"), "data").unwrap();
    let vol = format!(
        "mounts=[{{source: {}, target: /mnt/ro, readonly: true}}]",
        shared.display()
    );
    assert_eq!(
        status_of(&jail, &["--set", &vol], "cat /mnt/ro/f && ! touch /mnt/ro/g"),
        0
    );
    let missing = format!("mounts=[{{source: {}/nope, target: /mnt/x}}]", jail.base.display());
    let out = sh(&jail, &["--set", &missing], "true");
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
}

#[test]
fn shifted_ids_refuse_an_unshifted_tree_and_run_a_shifted_one() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = sh(&jail, &["--ids", "shifted"], "true");
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("jail-rootfs shift"),
        "{}",
        describe(&out)
    );
    // Shift the tree by hand (lchown every entry by BASE).
    let base: u32 = 3_000_000_000 - (3_000_000_000 % 65536);
    shift_tree(&jail.root, base);
    let code = status_of(&jail, &["--ids", "shifted"], "id -u && touch /made-in-shifted");
    assert_eq!(code, 0);
    let meta = fs::metadata(jail.root.join("made-in-shifted")).unwrap();
    assert_eq!(meta.uid(), base, "a file of the jail's root is uid BASE on disk");
}

fn shift_tree(dir: &std::path::Path, base: u32) {
    let meta = fs::symlink_metadata(dir).unwrap();
    std::os::unix::fs::lchown(dir, Some(base + meta.uid()), Some(base + meta.gid())).unwrap();
    if meta.is_dir() {
        for entry in fs::read_dir(dir).unwrap() {
            shift_tree(&entry.unwrap().path(), base);
        }
    }
}

#[test]
fn shipped_profiles_explain_and_run() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    for name in ["default", "hosting", "sandbox"] {
        let out = common::output_with_timeout(
            {
                let mut c = jail.jailctl();
                c.args(["policy", "explain", name]);
                c
            },
            common::TIMEOUT,
        );
        assert_eq!(out.status.code(), Some(0), "explain {name}\n{}", describe(&out));
        let text = stdout_text(&out);
        for section in ["Capabilities", "Allowances", "Landlock", "System calls"] {
            assert!(text.contains(section), "explain {name} lacks {section}");
        }
    }
    let out = common::output_with_timeout(
        {
            let mut c = jail.jailctl();
            c.args(["policy", "schema"]);
            c
        },
        common::TIMEOUT,
    );
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).expect("policy schema prints JSON");
    assert!(schema.get("properties").is_some(), "{schema}");

    // hosting: a VM-like jail with the built-in init at pid 1.
    let out = sh(&jail, &["--policy", "hosting"], "echo $$; hostname vm1 && hostname");
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout_text(&out);
    assert!(
        !text.starts_with("1\n"),
        "with init: builtin the shell is not pid 1\n{text}"
    );
    assert!(text.ends_with("vm1\n"));
    // sandbox: read-only everything, no network families beyond unix.
    let code = status_of(&jail, &["--policy", "sandbox"], "cat /etc/passwd >/dev/null");
    assert_eq!(code, 0);
    assert_ne!(status_of(&jail, &["--policy", "sandbox"], "touch /tmp/x"), 0);
    assert_ne!(status_of(&jail, &["--policy", "sandbox"], "hostname x"), 0);
}
