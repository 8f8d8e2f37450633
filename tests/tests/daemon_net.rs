//! End-to-end test of jaild's networking (issue 6): jaild runs inside a network namespace the test
//! made (playing the host) with `--address-pool`; jails on a bridge with `address: [auto]` get
//! distinct addresses and talk TCP, destroy frees the lease, a static address another jail holds
//! is refused, stop leaves no veth, and a restarted jaild removes the veth of a jail whose
//! supervisor was killed.

mod common;
mod daemon_common;

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use common::{TestJail, require_root, stdout_text};
use daemon_common::{Daemon, NetDaemon, NetNs, POOL, start_time};

const NET_AUTO: &str = "network={mode: bridge, bridge: jbr9, create_bridge: true, address: [auto]}";

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn ip_of(d: &Daemon, name: &str) -> String {
    let e = d.entry(name).unwrap_or_else(|| panic!("{name} is listed"));
    let ip = e["ip"].as_str().unwrap_or_else(|| panic!("{name} has no IP: {e}"));
    ip.split('/').next().unwrap_or(ip).to_string()
}

fn create(d: &Daemon, name: &str, root: &Path, net: &str, cmd: &str) {
    d.ok(&[
        "create",
        name,
        "--root",
        path_str(root),
        "--set",
        "init=builtin",
        "--set",
        net,
        "--",
        "/bin/sh",
        "-c",
        cmd,
    ]);
}

fn leases(d: &Daemon) -> Vec<(String, String)> {
    let Ok(entries) = fs::read_dir(d.state_dir.join("addresses")) else {
        return Vec::new();
    };
    let mut v: Vec<(String, String)> = entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                fs::read_to_string(e.path()).unwrap_or_default().trim().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn auto_addresses_tcp_static_clash_and_crash_recovery() {
    if !require_root() {
        return;
    }
    let ns = NetNs::new();
    let j1 = TestJail::new();
    let j2 = TestJail::new();
    let dir = j1.base.join("d");
    fs::create_dir_all(&dir).expect("mkdir the daemon dir");
    let mut d = Daemon::start(&dir);
    d.kill9();
    let mut nd = NetDaemon::start(&d, &ns);

    // Two jails with `address: [auto]` on one bridge; b serves TCP.
    create(&d, "a", &j1.root, NET_AUTO, "exec sleep 100000");
    create(
        &d,
        "b",
        &j2.root,
        NET_AUTO,
        "mkfifo /tmp/f; nc -l -p 5000 <>/tmp/f >/tmp/got; exec sleep 100000",
    );
    d.ok(&["start", "a"]);
    d.ok(&["start", "b"]);
    let (ip_a, ip_b) = (ip_of(&d, "a"), ip_of(&d, "b"));
    assert_ne!(ip_a, ip_b, "auto addresses must differ");
    for ip in [&ip_a, &ip_b] {
        assert!(ip.starts_with("10.99.0."), "{ip} is from the pool {POOL}");
    }
    let l = leases(&d);
    assert!(l.contains(&(ip_a.clone(), "a".to_string())), "{l:?}");
    assert!(l.contains(&(ip_b.clone(), "b".to_string())), "{l:?}");
    // The jail's eth0 carries it.
    let addr = d.ok(&["exec", "a", "--", "/bin/sh", "-c", "ip -o -4 addr show eth0"]);
    assert!(addr.contains(&format!("{ip_a}/29")), "{addr}");
    assert_eq!(ns.veths().len(), 2, "{:?}", ns.veths());

    // TCP from a to b.
    let send = format!(
        "for i in $(seq 50); do if echo hello-auto | nc -w 2 {ip_b} 5000; then echo SENT; exit 0; fi; sleep 0.1; done; exit 1"
    );
    let out = d.ok(&["exec", "a", "--", "/bin/sh", "-c", &send]);
    assert!(out.contains("SENT"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = stdout_text(&d.ctl(&["exec", "b", "--", "/bin/cat", "/tmp/got"]));
        if got.contains("hello-auto") {
            break;
        }
        assert!(Instant::now() < deadline, "b did not receive the data: {got:?}");
        thread::sleep(Duration::from_millis(100));
    }

    // Destroy frees a's lease.
    d.ok(&["stop", "a"]);
    assert_eq!(ns.veths().len(), 1, "a's veth is gone after stop: {:?}", ns.veths());
    d.ok(&["destroy", "a"]);
    let l = leases(&d);
    assert!(!l.iter().any(|(_, j)| j == "a"), "a's lease is released: {l:?}");

    // A static address b holds: refused at start, nothing created.
    let before = ns.veths();
    let clash = format!("network={{mode: bridge, bridge: jbr9, address: [{ip_b}/29]}}");
    create(&d, "s", &j1.root, &clash, "exec sleep 100000");
    let err = d.fails(&["start", "s"], "already taken by jail b");
    println!("{err}");
    assert_eq!(ns.veths(), before, "nothing created for s");
    let e = d.entry("s").expect("s listed");
    assert!(e["state"] == "failed" || e["state"] == "stopped", "s does not run: {e}");
    assert!(e["pid"].is_null(), "{e}");
    assert!(!leases(&d).iter().any(|(_, j)| j == "s"), "{:?}", leases(&d));
    d.ok(&["destroy", "s"]);

    // A new auto jail gets an address again (the freed one).
    create(&d, "c", &j1.root, NET_AUTO, "exec sleep 100000");
    d.ok(&["start", "c"]);
    let ip_c = ip_of(&d, "c");
    assert_ne!(ip_c, ip_b);
    assert_eq!(ip_c, ip_a, "the freed address is handed out again");
    let veth_c = libjail::net::host_ifname("c");
    assert!(ns.veths().contains(&veth_c), "{:?}", ns.veths());

    // Crash: kill -9 jaild and c's supervisor; a restarted jaild removes c's host veth.
    let i = d.inspect("c");
    let sup = i["supervisor_pid"].as_i64().expect("supervisor pid") as i32;
    let init = i["pid"]
        .as_i64()
        .map(|p| (p as i32, i["pid_start"].as_u64().unwrap_or(0)));
    nd.kill9();
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(sup), nix::sys::signal::Signal::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(5);
    while start_time(sup).is_some() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    // The jail's init may die with its supervisor, and its veth with its network namespace; the
    // state file still records the veth. Stand in for a veth left behind (the namespace kept
    // alive) so jaild's recovery has something to remove.
    let init_alive = init.is_some_and(|(p, s)| start_time(p) == Some(s));
    let left = ns.veths().contains(&veth_c);
    println!("after kill -9 of the supervisor: init alive {init_alive}, host veth left {left}");
    if !left {
        ns.ip(&["link", "add", &veth_c, "type", "veth", "peer", "name", "jdnpeer"]);
    }
    assert!(ns.veths().contains(&veth_c));
    let _nd2 = NetDaemon::start(&d, &ns);
    assert!(
        !ns.veths().contains(&veth_c),
        "c's veth is removed at jaild's start: {:?}",
        ns.veths()
    );
    assert_eq!(d.entry("c").expect("c listed")["state"], "stopped");
    // Its lease stays until destroy.
    assert!(
        leases(&d).contains(&(ip_c.clone(), "c".to_string())),
        "{:?}",
        leases(&d)
    );

    // Stop b: no veth left at all.
    d.ok(&["stop", "b"]);
    assert!(ns.veths().is_empty(), "no veth after stop: {:?}", ns.veths());
    d.ok(&["destroy", "b"]);
    d.ok(&["destroy", "c"]);
    assert!(leases(&d).is_empty(), "{:?}", leases(&d));
}

/// Two jails that start at the same moment on a bridge that does not exist yet, both with
/// `create_bridge: true`: one makes it, the other joins it (it used to fail with "cannot
/// create bridge: File exists"). Several rounds, each on a new bridge, to meet the race.
#[test]
fn parallel_starts_on_a_new_bridge() {
    if !require_root() {
        return;
    }
    let ns = NetNs::new();
    let j1 = TestJail::new();
    let roots = [j1.base.join("r1"), j1.base.join("r2")];
    common::busybox_roots(&roots);
    let dir = j1.base.join("d");
    fs::create_dir_all(&dir).expect("mkdir the daemon dir");
    let mut d = Daemon::start(&dir);
    d.kill9();
    let _nd = NetDaemon::start(&d, &ns);
    for round in 0..6 {
        let net = format!("network={{mode: bridge, bridge: jbrp{round}, create_bridge: true, address: [auto]}}");
        let names = [format!("p{round}a"), format!("p{round}b")];
        for (name, root) in names.iter().zip(&roots) {
            create(&d, name, root, &net, "exec sleep 100000");
        }
        thread::scope(|s| {
            for name in &names {
                let d = &d;
                s.spawn(move || d.ok(&["start", name]));
            }
        });
        for name in &names {
            assert_eq!(d.entry(name).expect("listed")["state"], "running", "{name}");
        }
        let bridges = ns.ip(&["-o", "link", "show", "type", "bridge"]);
        assert_eq!(
            bridges.matches(&format!("jbrp{round}")).count(),
            1,
            "one bridge: {bridges}"
        );
        for name in &names {
            d.ok(&["destroy", "--force", name]);
        }
    }
}
