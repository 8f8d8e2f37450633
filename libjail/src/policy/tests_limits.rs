//! Tests of `resources:` and `network:`: values, locations of errors,
//! merging across layers, and what `explain` says.

use super::*;

/// The parse error of `yaml` as `(line, column, message, hint)`.
#[track_caller]
fn parse_error(yaml: &str) -> (u64, u64, String, Option<String>) {
    match parse_layer(yaml, "p.yaml") {
        Err(PolicyError::Parse {
            line,
            column,
            message,
            hint,
            ..
        }) => (line, column, message, hint),
        other => panic!("expected a parse error for {yaml:?}, got {other:?}"),
    }
}

/// The default policy with `sets` on top.
#[track_caller]
fn with(sets: &[&str]) -> Policy {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    load(None, &sets).unwrap_or_else(|e| panic!("{e}"))
}

/// The error of the default policy with `sets` on top.
#[track_caller]
fn error_with(sets: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    match load(None, &sets) {
        Err(e) => e.to_string(),
        Ok(p) => panic!("expected an error for {sets:?}, got {p:?}"),
    }
}

/// Loads `yaml` as a file (a temp file, so `extends` works).
fn load_yaml(yaml: &str) -> Result<Policy, PolicyError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, yaml).unwrap();
    validate_file(&path)
}

#[test]
fn defaults_limit_nothing_and_have_no_network() {
    let p = Policy::builtin();
    assert!(p.resources.is_empty());
    assert_eq!(p.network.mode, NetMode::None);
    assert_eq!(p.network, NetworkPolicy::default());
    assert_eq!(load(None, &[]).unwrap().resources, ResourcesPolicy::default());
}

#[test]
fn memory_sizes() {
    let p = with(&["resources.memory={max: 64M, swap: 0, high: 48Mi}"]);
    assert_eq!(
        p.resources.memory,
        Some(MemoryLimits {
            max: Some(64 << 20),
            swap: Some(0),
            high: Some(48 << 20)
        })
    );
    for (text, bytes) in [
        ("1048576", 1 << 20),
        ("1G", 1 << 30),
        ("2GiB", 2 << 30),
        ("1536k", 1536 << 10),
        ("\"3 M\"", 3 << 20),
    ] {
        let p = with(&[&format!("resources.memory.max={text}")]);
        assert_eq!(p.resources.memory.unwrap().max, Some(bytes), "{text}");
    }
    assert_eq!(with(&["resources.memory.max=max"]).resources.memory, None);
    assert_eq!(show_bytes(64 << 20), "64M");
    assert_eq!(show_bytes(1 << 30), "1G");
    assert_eq!(show_bytes(1000), "1000");
}

#[test]
fn bad_memory_is_located() {
    let (line, column, message, hint) = parse_error("version: 1\nresources:\n  memory: {max: banana}\n");
    assert_eq!((line, column), (3, 17));
    assert_eq!(message, "bad memory size `banana`");
    assert!(hint.unwrap().contains("64M"));
    let (line, _, message, _) = parse_error("version: 1\nresources:\n  memory:\n    swap: -5\n");
    assert_eq!(line, 4);
    assert!(message.contains("negative"), "{message}");
    let (_, _, message, _) = parse_error("version: 1\nresources:\n  memory:\n    max: 1.5\n");
    assert!(message.contains("whole number"), "{message}");
    let (_, _, message, _) = parse_error("version: 1\nresources:\n  memory:\n    max: 64X\n");
    assert!(message.contains("`64X`"), "{message}");
    // A whole file, as `policy validate` prints it.
    let err = load_yaml("version: 1\nresources:\n  memory: {max: banana}\n").unwrap_err();
    assert!(
        err.to_string().contains("p.yaml:3:17: bad memory size `banana`"),
        "{err}"
    );
    // Across fields.
    let err = error_with(&["resources.memory={max: 64M, high: 128M}"]);
    assert!(err.contains("`resources.memory.high` 128M is above `max` 64M"), "{err}");
    let err = error_with(&["resources.memory.max=1000"]);
    assert!(err.contains("below 1M"), "{err}");
}

#[test]
fn pids_cpu_io_cpuset() {
    let p = with(&[
        "resources.pids.max=64",
        "resources.cpu={max: 1.5, weight: 200}",
        "resources.io.weight=50",
        "resources.cpuset.cpus=\"0-1, 3\"",
    ]);
    assert_eq!(p.resources.pids, Some(PidsLimit { max: 64 }));
    assert_eq!(
        p.resources.cpu,
        Some(CpuLimits {
            max: Some(1.5),
            weight: Some(200)
        })
    );
    assert_eq!(p.resources.io, Some(IoLimits { weight: Some(50) }));
    assert_eq!(p.resources.cpuset.unwrap().cpus, "0-1,3");
    assert_eq!(with(&["resources.cpu.max=2"]).resources.cpu.unwrap().max, Some(2.0));
    assert_eq!(with(&["resources.cpuset.cpus=0"]).resources.cpuset.unwrap().cpus, "0");
    assert_eq!(CpuLimits::quota_usec(0.5), 50_000);
    assert_eq!(CpuLimits::quota_usec(1.5), 150_000);

    for (set, needle) in [
        ("resources.pids.max=0", "`pids.max` 0"),
        ("resources.pids.max=lots", "bad task count `lots`"),
        ("resources.cpu.max=0", "not a number of cores"),
        ("resources.cpu.max=-1", "not a number of cores"),
        ("resources.cpu.max=0.001", "too small"),
        ("resources.cpu.max=fast", "bad CPU bandwidth"),
        ("resources.cpu.weight=0", "weight 0 is out of range"),
        ("resources.io.weight=10001", "weight 10001 is out of range"),
        ("resources.cpuset.cpus=\"3-1\"", "range `3-1` goes down"),
        ("resources.cpuset.cpus=\"a\"", "bad CPU list"),
        ("resources.cpuset.cpus=\"\"", "it is empty"),
        ("resources.memory.maximum=1G", "unknown field `maximum`"),
    ] {
        let err = error_with(&[set]);
        assert!(err.contains(needle), "{set}: {err}");
    }
}

#[test]
fn resources_merge_field_by_field() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.yaml"),
        "version: 1\nresources:\n  memory: {max: 256M, high: 200M}\n  pids: {max: 100}\n  cpu: {max: 2}\n",
    )
    .unwrap();
    let child = dir.path().join("child.yaml");
    std::fs::write(
        &child,
        "version: 1\nextends: base.yaml\nresources:\n  memory: {high: max}\n  pids: {max: max}\n  cpu: {weight: 50}\n",
    )
    .unwrap();
    let p = validate_file(&child).unwrap();
    assert_eq!(
        p.resources.memory,
        Some(MemoryLimits {
            max: Some(256 << 20),
            swap: None,
            high: None
        })
    );
    assert_eq!(p.resources.pids, None);
    assert_eq!(
        p.resources.cpu,
        Some(CpuLimits {
            max: Some(2.0),
            weight: Some(50)
        })
    );
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
}

#[test]
fn network_bridge_static() {
    let p = with(&[
        "network={mode: bridge, bridge: br-jail, address: [10.0.0.2/24, \"fd00::2/64\"], gateway: 10.0.0.1, mtu: \
         1400, mac: \"02:00:0A:00:00:02\"}",
    ]);
    let n = &p.network;
    assert_eq!(n.mode, NetMode::Bridge);
    assert_eq!(n.bridge.as_deref(), Some("br-jail"));
    assert_eq!(n.address, ["10.0.0.2/24", "fd00::2/64"]);
    assert_eq!(n.gateway.as_deref(), Some("10.0.0.1"));
    assert_eq!(n.mtu, Some(1400));
    assert_eq!(n.mac.as_deref(), Some("02:00:0a:00:00:02"));
    assert_eq!(n.static_addresses().len(), 2);
    assert_eq!(n.mac_bytes(), Some([2, 0, 10, 0, 0, 2]));
    // IPv6 gateway in the v6 subnet, and link-local.
    with(&["network={mode: bridge, bridge: b, address: [\"fd00::2/64\"], gateway: \"fd00::1\"}"]);
    with(&["network={mode: bridge, bridge: b, address: [\"fd00::2/64\"], gateway: \"fe80::1\"}"]);
    let p = with(&["network={mode: macvlan, parent: eth0, address: [auto]}"]);
    assert!(p.network.is_auto());
    assert_eq!(p.network.parent.as_deref(), Some("eth0"));
    let json = serde_json::to_string(&p).unwrap();
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
}

#[test]
fn bad_network_values_are_located() {
    let cases = [
        (
            "network:\n  mode: bridge\n  bridge: a-name-far-too-long\n",
            4,
            "bad interface name",
        ),
        (
            "network:\n  mode: bridge\n  bridge: br0\n  address: [10.0.0.2]\n",
            5,
            "has no prefix length",
        ),
        (
            "network:\n  mode: bridge\n  bridge: br0\n  address: [10.0.0.2/40]\n",
            5,
            "is not a prefix length",
        ),
        (
            "network:\n  mode: bridge\n  bridge: br0\n  address: [10.0.0.0/24]\n",
            5,
            "network's own address",
        ),
        (
            "network:\n  mode: bridge\n  bridge: br0\n  address: [127.0.0.2/8]\n",
            5,
            "cannot be an interface",
        ),
        (
            "network:\n  mode: bridge\n  bridge: br0\n  gateway: 10.0.0.1/24\n",
            5,
            "is not an IP address",
        ),
        (
            "network:\n  mode: bridge\n  bridge: br0\n  mtu: 20\n",
            5,
            "MTU 20 is out of range",
        ),
        (
            "network:\n  mode: bridge\n  bridge: br0\n  mac: \"01:00:00:00:00:01\"\n",
            5,
            "multicast MAC",
        ),
        ("network:\n  mode: wifi\n", 3, "unknown value `wifi`"),
    ];
    for (body, line, needle) in cases {
        let yaml = format!("version: 1\n{body}");
        let (l, _, message, _) = parse_error(&yaml);
        assert_eq!(l, line, "{body}: {message}");
        assert!(message.contains(needle), "{body}: {message}");
    }
}

#[test]
fn network_modes_and_fields_must_agree() {
    for (set, needle) in [
        (
            "network={mode: none, bridge: br0}",
            "`network.bridge` is not used with `mode: none`",
        ),
        (
            "network={mode: none, address: [10.0.0.2/24]}",
            "`network.address` is not used with `mode: none`",
        ),
        (
            "network={mode: bridge, bridge: b, parent: eth0}",
            "`network.parent` is not used with `mode: bridge`",
        ),
        (
            "network={mode: ipvlan, parent: eth0, bridge: b}",
            "`network.bridge` is not used with `mode: ipvlan`",
        ),
        (
            "network={mode: ipvlan, parent: eth0, mac: \"02:00:00:00:00:01\"}",
            "cannot be set with `mode: ipvlan`",
        ),
        ("network.mode=bridge", "needs `network.bridge`"),
        ("network.mode=macvlan", "needs `network.parent`"),
        (
            "network.address=[10.0.0.2/24]",
            "`network.address` is not used with `mode: none`",
        ),
        (
            "network={mode: bridge, bridge: b, address: [auto, 10.0.0.2/24]}",
            "`auto` must be the only address",
        ),
        (
            "network={mode: bridge, bridge: b, address: [10.0.0.2/24, 10.0.0.2/16]}",
            "listed twice",
        ),
        (
            "network={mode: bridge, bridge: b, address: [10.0.0.2/24], gateway: 10.0.1.1}",
            "not in the subnet of any of the jail's addresses",
        ),
        (
            "network={mode: bridge, bridge: b, address: [10.0.0.2/24], gateway: 10.0.0.2}",
            "own addresses",
        ),
        (
            "network={mode: bridge, bridge: b, gateway: 10.0.0.1}",
            "the jail has no address",
        ),
        ("network.write_resolv=true", "needs `network.nameservers`"),
    ] {
        let err = error_with(&[set]);
        assert!(err.contains(needle), "{set}: {err}");
    }
    // The gateway is checked against the final address list too.
    let err = error_with(&[
        "network={mode: bridge, bridge: b, address: [10.0.0.2/24], gateway: 10.0.0.1}",
        "network.address=[10.9.0.2/24]",
    ]);
    assert!(err.contains("not in the subnet"), "{err}");
}

#[test]
fn setting_the_mode_discards_what_it_does_not_use() {
    let base = "network={mode: bridge, bridge: br0, create_bridge: true, address: [10.0.0.2/24], gateway: 10.0.0.1, \
                write_hosts: true}";
    let p = with(&[base, "network.mode=none"]);
    assert_eq!(
        p.network,
        NetworkPolicy {
            write_hosts: true,
            ..NetworkPolicy::default()
        }
    );
    let p = with(&[base, "network={mode: macvlan, parent: eth0}"]);
    assert_eq!(p.network.bridge, None);
    assert!(!p.network.create_bridge);
    assert_eq!(p.network.address, ["10.0.0.2/24"]);
    assert_eq!(p.network.gateway.as_deref(), Some("10.0.0.1"));
    let p = with(&[base, "network.mtu=9000"]);
    assert_eq!(p.network.bridge.as_deref(), Some("br0"));
    assert_eq!(p.network.mtu, Some(9000));
    let p = with(&[base, "network.nameservers=[10.0.0.1]", "network.write_resolv=true"]);
    assert_eq!(p.network.nameservers, ["10.0.0.1"]);
}

#[test]
fn explain_says_limits_and_network() {
    let p = with(&[
        "resources={memory: {max: 64M}, pids: {max: 64}, cpu: {max: 0.5, weight: 50}, cpuset: {cpus: \"0\"}}",
        "network={mode: bridge, bridge: br0, address: [auto], write_hosts: true}",
    ]);
    let text = explain(&p).split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "Resources (the jail's own cgroup):",
        "memory: max 64M, swap unlimited, high unlimited",
        "tasks: at most 64 processes and threads",
        "CPU: at most 0.5 cores' worth of time (50000 µs every 100000 µs)",
        "CPU weight: 50",
        "CPUs: 0 only",
        "Network: bridge",
        "on bridge br0, which must exist",
        "one address from jaild's address pool",
        "default route via the pool's gateway",
        "/etc/hosts written",
    ] {
        assert!(text.contains(needle), "{needle}\n{text}");
    }
    let text = explain(&Policy::builtin())
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(text.contains("Network: none"), "{text}");
    assert!(text.contains("loopback only"), "{text}");
    assert!(text.contains("memory: unlimited"), "{text}");
}
