//! `libjail::net` in network namespaces the test creates (root): a "host"
//! namespace standing in for the host, and one per "jail". Nothing here
//! touches the real host's interfaces: every namespace is made by
//! `unshare(CLONE_NEWNET)` in a short-lived thread and held by an fd, and
//! dropping that fd (also when an assertion fails) destroys the namespace
//! with every interface in it. Work "inside" a namespace runs in a thread
//! that `setns`es into it (network namespaces are per thread), which is safe
//! in a multi-threaded test process, unlike fork.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::process::Command;
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use libjail::net::{self, AddressPool, IpNet, NetError, NetSetup};
use libjail::policy::{NetMode, NetworkPolicy};

/// The tests of this file one at a time: they count threads.
static SERIAL: Mutex<()> = Mutex::new(());

fn is_root() -> bool {
    let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    if !root.unwrap_or(false) {
        eprintln!("skipped: needs root");
        return false;
    }
    true
}

/// A network namespace made for the test, gone when dropped.
struct Netns(OwnedFd);

impl Netns {
    fn new() -> Netns {
        let fd = std::thread::spawn(|| {
            libjail::sys::unshare(libc::CLONE_NEWNET).expect("unshare(CLONE_NEWNET)");
            OwnedFd::from(File::open("/proc/thread-self/ns/net").unwrap())
        })
        .join()
        .unwrap();
        Netns(fd)
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }

    /// Runs `f` in a thread inside this namespace.
    fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                libjail::sys::setns(self.fd(), libc::CLONE_NEWNET).unwrap();
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// `ip ARGS` inside this namespace (test scaffolding only).
    fn ip(&self, args: &[&str]) {
        self.run(|| {
            let status = Command::new("ip").args(args).status().unwrap();
            assert!(status.success(), "ip {args:?}");
        });
    }

    /// The names of its interfaces.
    fn link_names(&self) -> Vec<String> {
        net::links(Some(self.fd()))
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect()
    }

    /// Its interfaces as (name, kind), sorted.
    fn links(&self) -> Vec<(String, Option<String>)> {
        let mut l: Vec<_> = net::links(Some(self.fd()))
            .unwrap()
            .into_iter()
            .map(|l| (l.name, l.kind))
            .collect();
        l.sort();
        l
    }
}

fn bridged(bridge: &str, create: bool, address: &[&str], gateway: Option<&str>) -> NetworkPolicy {
    NetworkPolicy {
        mode: NetMode::Bridge,
        bridge: Some(bridge.to_string()),
        create_bridge: create,
        address: address.iter().map(|s| s.to_string()).collect(),
        gateway: gateway.map(str::to_string),
        ..NetworkPolicy::default()
    }
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn tasks() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// A TCP round trip from inside `client` to `addr:port` listened on inside
/// `server`: the server echoes what it reads, reversed.
fn tcp_round_trip(server: &Netns, client: &Netns, addr: IpAddr) -> String {
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        let srv = s.spawn(|| {
            server.run(|| {
                let listener = TcpListener::bind(SocketAddr::new(addr, 0)).unwrap();
                tx.send(listener.local_addr().unwrap().port()).unwrap();
                let (mut conn, peer) = listener.accept().unwrap();
                let mut got = String::new();
                conn.read_to_string(&mut got).unwrap();
                conn.write_all(got.chars().rev().collect::<String>().as_bytes())
                    .unwrap();
                peer
            })
        });
        let port = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let reply = client.run(|| {
            let mut conn = TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_secs(5)).unwrap();
            conn.write_all(b"hello from the jail").unwrap();
            conn.shutdown(std::net::Shutdown::Write).unwrap();
            let mut reply = String::new();
            conn.read_to_string(&mut reply).unwrap();
            reply
        });
        srv.join().unwrap();
        reply
    })
}

#[test]
fn two_jails_on_one_bridge_exchange_tcp_and_teardown_leaves_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let (host, a, b) = (Netns::new(), Netns::new(), Netns::new());
    let pa = bridged("br-jt", true, &["10.77.0.2/24", "fd77::2/64"], Some("10.77.0.1"));
    let pb = bridged("br-jt", true, &["10.77.0.3/24"], Some("10.77.0.1"));
    let (sa, sb, threads) = host.run(|| {
        let before = tasks();
        let sa = net::setup(a.fd(), "ja", &pa, &nets(&["10.77.0.2/24", "fd77::2/64"])).unwrap();
        let sb = net::setup(b.fd(), "jb", &pb, &nets(&["10.77.0.3/24"])).unwrap();
        (sa, sb, (before, tasks()))
    });
    // No thread outlives a call.
    assert_eq!(threads.0, threads.1, "threads before and after setup");
    assert!(sa.created_bridge && !sb.created_bridge);
    assert_eq!(sa.host_if.as_deref(), Some(net::host_ifname("ja").as_str()));
    assert!(net::host_ifname("ja").len() <= 15);
    assert_ne!(net::host_ifname("ja"), net::host_ifname("jb"));
    assert_eq!(sa.gateway, Some("10.77.0.1".parse().unwrap()));

    // The record round-trips for a restarted daemon.
    let json = serde_json::to_string(&sa).unwrap();
    assert_eq!(serde_json::from_str::<NetSetup>(&json).unwrap(), sa);

    // Host side: the bridge (with the gateway) and both veths on it.
    let host_links = net::links(Some(host.fd())).unwrap();
    let br = host_links.iter().find(|l| l.name == "br-jt").unwrap();
    assert_eq!(br.kind.as_deref(), Some("bridge"));
    assert!(
        br.addresses.iter().any(|a| a.to_string() == "10.77.0.1/24"),
        "{:?}",
        br.addresses
    );
    for s in [&sa, &sb] {
        let veth = host_links.iter().find(|l| Some(&l.name) == s.host_if.as_ref()).unwrap();
        assert_eq!(veth.kind.as_deref(), Some("veth"));
        assert_eq!(veth.master, Some(br.index));
        assert!(veth.up);
    }
    // Jail side: lo and eth0, up, with the addresses and the default route.
    let jail_links = net::links(Some(a.fd())).unwrap();
    let names: Vec<&str> = jail_links.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names, ["lo", "eth0"]);
    let eth0 = &jail_links[1];
    assert!(eth0.up);
    assert_eq!(eth0.kind.as_deref(), Some("veth"));
    let addrs: Vec<String> = eth0.addresses.iter().map(ToString::to_string).collect();
    assert!(
        addrs.contains(&"10.77.0.2/24".to_string()) && addrs.contains(&"fd77::2/64".to_string()),
        "{addrs:?}"
    );
    a.run(|| {
        let routes = Command::new("ip").args(["route", "show", "default"]).output().unwrap();
        let routes = String::from_utf8_lossy(&routes.stdout);
        assert!(routes.contains("default via 10.77.0.1 dev eth0"), "{routes}");
    });

    // Jail to jail over the bridge, and jail to host (the gateway).
    assert_eq!(
        tcp_round_trip(&b, &a, "10.77.0.3".parse().unwrap()),
        "liaj eht morf olleh"
    );
    assert_eq!(
        tcp_round_trip(&host, &a, "10.77.0.1".parse().unwrap()),
        "liaj eht morf olleh"
    );

    // The same jail again: its veth name is taken.
    let again = host.run(|| net::setup(a.fd(), "ja", &pa, &[]));
    assert!(matches!(again, Err(NetError::HostIfExists { .. })), "{again:?}");

    // Teardown: no veth left on the host, only lo in the jails; twice is fine.
    host.run(|| {
        sa.teardown().unwrap();
        net::teardown_recorded(&sb).unwrap();
        sa.teardown().unwrap();
    });
    let left = host.links();
    assert!(left.iter().all(|(_, k)| k.as_deref() != Some("veth")), "{left:?}");
    assert!(
        left.iter().any(|(n, _)| n == "br-jt"),
        "the bridge stays for other jails"
    );
    assert_eq!(a.link_names(), ["lo"]);
    assert_eq!(b.link_names(), ["lo"]);
}

#[test]
fn mode_none_has_only_loopback_and_reaches_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let (host, jail) = (Netns::new(), Netns::new());
    host.run(libjail::sys::loopback_up).unwrap();
    jail.run(libjail::sys::loopback_up).unwrap();
    let setup = host
        .run(|| net::setup(jail.fd(), "quiet", &NetworkPolicy::default(), &[]))
        .unwrap();
    assert_eq!(setup.host_if, None);
    assert!(setup.addresses.is_empty());
    assert_eq!(jail.link_names(), ["lo"]);
    // A listener on the host's loopback is not the jail's loopback.
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            host.run(|| {
                let l = TcpListener::bind("127.0.0.1:0").unwrap();
                tx.send(l.local_addr().unwrap()).unwrap();
                l.set_nonblocking(true).unwrap();
                std::thread::sleep(Duration::from_millis(500));
                assert!(l.accept().is_err(), "the jail reached the host's loopback");
            })
        });
        let addr = rx.recv().unwrap();
        jail.run(|| {
            let err = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
            let err = TcpStream::connect_timeout(&"10.77.0.1:80".parse().unwrap(), Duration::from_secs(2)).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENETUNREACH), "{err}");
        });
    });
    // No addresses with mode none.
    let err = host.run(|| net::setup(jail.fd(), "quiet", &NetworkPolicy::default(), &nets(&["10.0.0.2/24"])));
    assert!(matches!(err, Err(NetError::Invalid(_))), "{err:?}");
}

#[test]
fn macvlan_and_ipvlan_on_a_parent() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let (host, a, b, c) = (Netns::new(), Netns::new(), Netns::new(), Netns::new());
    // The parent: one end of a veth pair (this kernel has no dummy driver).
    host.ip(&["link", "add", "jtparent", "type", "veth", "peer", "name", "jtpeer"]);
    host.ip(&["link", "set", "jtparent", "up"]);
    host.ip(&["link", "set", "jtpeer", "up"]);
    let host_before = host.links();
    let sub = |mode, address: &str, mac: Option<&str>| NetworkPolicy {
        mode,
        parent: Some("jtparent".to_string()),
        address: vec![address.to_string()],
        mac: mac.map(str::to_string),
        mtu: Some(1400),
        ..NetworkPolicy::default()
    };
    let pa = sub(NetMode::Macvlan, "10.78.0.2/24", Some("02:00:0a:4e:00:02"));
    let pb = sub(NetMode::Macvlan, "10.78.0.3/24", None);
    let pc = sub(NetMode::Ipvlan, "10.79.0.2/24", None);
    let ipvlan = host.run(|| {
        let sa = net::setup(a.fd(), "ma", &pa, &nets(&["10.78.0.2/24"])).unwrap();
        net::setup(b.fd(), "mb", &pb, &nets(&["10.78.0.3/24"])).unwrap();
        assert_eq!(sa.host_if, None, "nothing on the host to clean up");
        net::setup(c.fd(), "ic", &pc, &nets(&["10.79.0.2/24"]))
    });
    let eth0 = |ns: &Netns| {
        net::links(Some(ns.fd()))
            .unwrap()
            .into_iter()
            .find(|l| l.name == "eth0")
            .unwrap()
    };
    let ea = eth0(&a);
    assert_eq!(ea.kind.as_deref(), Some("macvlan"));
    assert_eq!(ea.mac.as_deref(), Some(&[2u8, 0, 10, 78, 0, 2][..]));
    assert_eq!(ea.mtu, Some(1400));
    match ipvlan {
        Ok(_) => {
            let ec = eth0(&c);
            assert_eq!(ec.kind.as_deref(), Some("ipvlan"));
            assert_eq!(
                ec.addresses.iter().map(ToString::to_string).collect::<Vec<_>>(),
                ["10.79.0.2/24"]
            );
        }
        Err(NetError::Unsupported(why)) => {
            eprintln!("ipvlan part skipped: {why}");
            assert_eq!(c.link_names(), ["lo"], "nothing left in the jail");
        }
        Err(e) => panic!("{e}"),
    }
    // Host: nothing was added there.
    assert_eq!(host.links(), host_before);
    // Two macvlan jails on one parent talk (bridge mode).
    assert_eq!(
        tcp_round_trip(&b, &a, "10.78.0.3".parse().unwrap()),
        "liaj eht morf olleh"
    );
}

#[test]
fn bad_input_is_refused_and_creates_nothing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let (host, jail) = (Netns::new(), Netns::new());
    host.ip(&["link", "add", "jtveth", "type", "veth", "peer", "name", "jtveth1"]);
    host.ip(&["link", "add", "br-used", "type", "bridge"]);
    host.ip(&["addr", "add", "10.80.0.1/24", "dev", "br-used"]);
    let host_before = host.links();
    let check_untouched = |what: &str| {
        assert_eq!(host.links(), host_before, "{what}: the host changed");
        assert_eq!(jail.link_names(), ["lo"], "{what}: the jail changed");
    };

    let missing = bridged("br-missing", false, &["10.80.0.2/24"], None);
    let err = host
        .run(|| net::setup(jail.fd(), "j1", &missing, &nets(&["10.80.0.2/24"])))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "bridge br-missing does not exist (create it or set create_bridge: true)"
    );
    check_untouched("missing bridge");

    let not_bridge = bridged("jtveth", false, &[], None);
    let err = host.run(|| net::setup(jail.fd(), "j1", &not_bridge, &[])).unwrap_err();
    assert!(matches!(err, NetError::NotABridge { .. }), "{err}");
    check_untouched("not a bridge");

    let parentless = NetworkPolicy {
        mode: NetMode::Macvlan,
        parent: Some("nosuchif0".to_string()),
        ..NetworkPolicy::default()
    };
    let err = host.run(|| net::setup(jail.fd(), "j1", &parentless, &[])).unwrap_err();
    assert_eq!(err.to_string(), "parent interface nosuchif0 does not exist on the host");
    check_untouched("missing parent");

    // An address the host already has (even with create_bridge on a new bridge).
    for policy in [
        bridged("br-used", false, &["10.80.0.1/24"], None),
        bridged("br-new", true, &["10.80.0.1/24"], None),
    ] {
        let err = host
            .run(|| net::setup(jail.fd(), "j1", &policy, &nets(&["10.80.0.1/24"])))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "address 10.80.0.1 is already in use on the host (on br-used)"
        );
        check_untouched("address in use");
    }

    // A failure half-way (after the bridge and the veth were made: a
    // gateway off the jail's link, so adding the route fails) removes the
    // veth and the bridge this call created.
    let mut off_link = bridged("br-new", true, &["10.81.0.2/24"], None);
    off_link.gateway = Some("10.99.0.1".to_string());
    let err = host
        .run(|| net::setup(jail.fd(), "j1", &off_link, &nets(&["10.81.0.2/24"])))
        .unwrap_err();
    assert!(err.to_string().contains("default route via 10.99.0.1"), "{err}");
    check_untouched("failure half-way");
}

#[test]
fn overlapping_static_addresses_and_addresses_outside_the_pool() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let pool = AddressPool::new("10.88.0.0/24".parse().unwrap(), dir.path().join("leases")).unwrap();
    let a = bridged("br0", false, &["10.88.0.5/24"], Some("10.88.0.1"));
    assert_eq!(
        net::resolve_addresses("ja", &a, Some(&pool)).unwrap(),
        nets(&["10.88.0.5/24"])
    );
    // Again for the same jail (a restart): fine.
    net::resolve_addresses("ja", &a, Some(&pool)).unwrap();
    let err = net::resolve_addresses("jb", &a, Some(&pool)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "address pool: address 10.88.0.5 is already taken by jail ja"
    );
    let outside = bridged("br0", false, &["10.89.0.5/24"], None);
    let err = net::resolve_addresses("jb", &outside, Some(&pool)).unwrap_err();
    assert!(
        err.to_string()
            .contains("address 10.89.0.5/24 is outside the pool 10.88.0.0/24"),
        "{err}"
    );
    // All or nothing: the first address is not kept when the second fails.
    let two = bridged("br0", false, &["10.88.0.6/24", "10.88.0.5/24"], None);
    assert!(net::resolve_addresses("jc", &two, Some(&pool)).is_err());
    assert!(pool.held_by("jc").unwrap().is_empty());
    // IPv6 addresses pass a v4 pool by.
    let v6 = bridged("br0", false, &["fd00::5/64"], None);
    assert_eq!(
        net::resolve_addresses("jd", &v6, Some(&pool)).unwrap(),
        nets(&["fd00::5/64"])
    );
    // auto needs a pool.
    let auto = bridged("br0", false, &["auto"], None);
    let err = net::resolve_addresses("je", &auto, None).unwrap_err();
    assert!(err.to_string().contains("needs an address pool"), "{err}");
    assert!(
        net::resolve_addresses("jf", &NetworkPolicy::default(), Some(&pool))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn auto_addresses_are_distinct_persisted_and_released() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let leases = dir.path().join("leases");
    let pool = AddressPool::new("10.90.0.7/29".parse().unwrap(), &leases).unwrap();
    assert_eq!(pool.cidr.to_string(), "10.90.0.0/29");
    assert_eq!(pool.gateway().to_string(), "10.90.0.1");
    let auto = bridged("br0", false, &["auto"], None);
    let got: Vec<IpNet> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|j| net::resolve_addresses(j, &auto, Some(&pool)).unwrap()[0])
        .collect();
    let shown: Vec<String> = got.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "10.90.0.2/29",
            "10.90.0.3/29",
            "10.90.0.4/29",
            "10.90.0.5/29",
            "10.90.0.6/29"
        ]
    );
    // Full (.0 network, .1 gateway, .7 broadcast).
    let err = pool.lease("f").unwrap_err();
    assert!(err.to_string().contains("no free address left"), "{err}");
    // Persisted: a new pool object (a restarted daemon) sees the leases and
    // gives a jail its own address back.
    let again = AddressPool::new("10.90.0.0/29".parse().unwrap(), &leases).unwrap();
    assert_eq!(again.lease("c").unwrap().to_string(), "10.90.0.4/29");
    assert_eq!(again.leases().unwrap().len(), 5);
    // Released, and handed out again.
    assert_eq!(again.release("c").unwrap(), ["10.90.0.4".parse::<IpAddr>().unwrap()]);
    assert!(again.release("c").unwrap().is_empty());
    assert_eq!(again.lease("f").unwrap().to_string(), "10.90.0.4/29");
    // The pool's own addresses cannot be reserved.
    let err = again.reserve("g", "10.90.0.1/29".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("network, gateway or broadcast"), "{err}");
    assert!(AddressPool::new("10.0.0.0/31".parse().unwrap(), &leases).is_err());
    // Concurrent leases never share an address.
    let wide = AddressPool::new("10.91.0.0/24".parse().unwrap(), dir.path().join("wide")).unwrap();
    let mut all: Vec<IpNet> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let wide = &wide;
                s.spawn(move || {
                    (0..10)
                        .map(|i| wide.lease(&format!("t{t}-{i}")).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 80);
}

#[test]
fn auto_address_on_a_created_bridge_gets_the_pools_gateway() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !is_root() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pool = AddressPool::new("10.92.0.0/24".parse().unwrap(), dir.path()).unwrap();
    let (host, a, b) = (Netns::new(), Netns::new(), Netns::new());
    let auto = bridged("br-auto", true, &["auto"], None);
    let (sa, sb) = host.run(|| {
        let aa = net::resolve_addresses("a", &auto, Some(&pool)).unwrap();
        let ab = net::resolve_addresses("b", &auto, Some(&pool)).unwrap();
        assert_ne!(aa, ab);
        (
            net::setup(a.fd(), "a", &auto, &aa).unwrap(),
            net::setup(b.fd(), "b", &auto, &ab).unwrap(),
        )
    });
    assert_eq!(sa.gateway, Some(pool.gateway()));
    assert_eq!(sa.addresses[0].to_string(), "10.92.0.2/24");
    // The jail reaches the host through the pool's gateway on the bridge.
    assert_eq!(tcp_round_trip(&host, &a, pool.gateway()), "liaj eht morf olleh");
    assert_eq!(tcp_round_trip(&a, &b, sa.addresses[0].addr), "liaj eht morf olleh");
    host.run(|| {
        sa.teardown().unwrap();
        sb.teardown().unwrap();
    });
    pool.release("a").unwrap();
    pool.release("b").unwrap();
    assert!(pool.leases().unwrap().is_empty());
    assert!(host.links().iter().all(|(_, k)| k.as_deref() != Some("veth")));
}
