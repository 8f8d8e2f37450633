//! Tests of the policy model: locations of errors, `extends`, `--set`,
//! merging, and the shipped profiles.

use std::path::{Path, PathBuf};

use super::*;
use crate::capability::number;
use crate::idmap::IdMapEntry;

/// Asserts that `yaml` fails to parse at `line:column` with `message`
/// (and `hint`, when given).
#[track_caller]
fn assert_parse_error(yaml: &str, line: u64, column: u64, message: &str, hint: Option<&str>) {
    match parse_layer(yaml, "p.yaml") {
        Err(PolicyError::Parse {
            origin,
            line: l,
            column: c,
            message: m,
            hint: h,
        }) => {
            assert_eq!(origin, "p.yaml");
            assert_eq!((l, c), (line, column), "location of {m:?}");
            assert_eq!(m, message);
            if let Some(hint) = hint {
                assert_eq!(h.as_deref(), Some(hint));
            }
        }
        other => panic!("expected a parse error for {yaml:?}, got {other:?}"),
    }
}

/// The mask of the named capabilities.
fn caps(names: &[&str]) -> CapMask {
    names.iter().fold(CapMask::EMPTY, |m, n| {
        m.with(number(n).unwrap_or_else(|| panic!("no capability {n}")))
    })
}

/// Writes `files` (name, text) into a fresh temp dir.
fn write_files(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

/// `--set` arguments as owned strings.
fn sets(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The `--set` error for `arg` on top of the default profile.
#[track_caller]
fn set_error(arg: &str) -> String {
    match load(None, &sets(&[arg])) {
        Err(e @ PolicyError::BadSet { .. }) => e.to_string(),
        other => panic!("expected a --set error for {arg:?}, got {other:?}"),
    }
}

/// The `policies/` directory of the source tree.
fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

// ---- locations ----------------------------------------------------------

#[test]
fn unknown_key_is_located_with_a_hint() {
    assert_parse_error(
        "version: 1\n\ncapabilites:\n  allow: []\n",
        3,
        1,
        "unknown field `capabilites`",
        Some("did you mean `capabilities`?"),
    );
    assert_parse_error(
        "version: 1\ncapabilities:\n  alow: [CHOWN]\n",
        3,
        3,
        "unknown field `alow`",
        Some("did you mean `allow`?"),
    );
    // Keys reserved for later versions are errors today.
    for key in ["resources", "network", "cgroup"] {
        let yaml = format!("version: 1\n{key}: {{}}\n");
        let err = parse_layer(&yaml, "p.yaml").unwrap_err();
        assert!(
            matches!(err, PolicyError::Parse { line: 2, column: 1, .. }),
            "{key}: {err}"
        );
    }
    // The whole message, as users see it.
    let err = parse_layer("version: 1\nrootfs:\n    nosiud: true\n", "/tmp/p.yaml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy /tmp/p.yaml:3:5: unknown field `nosiud` (did you mean `nosuid`?)"
    );
}

#[test]
fn wrong_type_is_located() {
    assert_parse_error(
        "version: 1\nno_new_privs: maybe\n",
        2,
        15,
        "invalid boolean (true or false expected)",
        None,
    );
    // YAML 1.1 booleans are not booleans here.
    assert_parse_error(
        "version: 1\nrootfs:\n  readonly: yes\n",
        3,
        13,
        "invalid boolean (true or false expected)",
        None,
    );
    assert_parse_error("version: 1\nworkdir: [a]\n", 2, 10, "expected string scalar", None);
    assert_parse_error(
        "version: 1\nversion: 1\n",
        2,
        1,
        "duplicate mapping key `version` is not allowed here",
        None,
    );
}

#[test]
fn unknown_capability_in_a_list_is_located() {
    assert_parse_error(
        "version: 1\ncapabilities:\n  add: [CHOWN, SYS_ADMN]\n",
        3,
        16,
        "unknown capability `SYS_ADMN`",
        Some("did you mean `SYS_ADMIN`?"),
    );
    assert_parse_error(
        "version: 1\ncapabilities:\n  drop:\n    - chown\n    - CAP_NET_RAWW\n",
        5,
        7,
        "unknown capability `CAP_NET_RAWW`",
        Some("did you mean `NET_RAW`?"),
    );
    assert_parse_error(
        "version: 1\nseccomp:\n  deny: [opnat]\n",
        3,
        10,
        "unknown system call `opnat`",
        Some("did you mean `openat`?"),
    );
}

#[test]
fn bad_id_maps_are_located() {
    assert_parse_error(
        "version: 1\nids:\n  mode: custom\n  map: [\"0:1:10\", \"0:x:1\"]\n",
        4,
        19,
        "bad id map extent `0:x:1`: OUTSIDE `x` is not a non-negative integer \
         (expected INSIDE:OUTSIDE:COUNT, e.g. 0:100000:65536)",
        None,
    );
    // A check over the whole list points at the list.
    assert_parse_error(
        "version: 1\nids:\n  mode: custom\n  map:\n    - \"0:100000:65536\"\n    - \"0:200000:10\"\n",
        5,
        5,
        "id map extent 2 (0:200000:10) overlaps extent 1 (0:100000:65536) inside the jail",
        None,
    );
    assert_parse_error(
        "version: 1\nids:\n  mode: isolated\n  map: [\"0:100000:65536\"]\n",
        3,
        3,
        "`map` and `gid_map` are only used with `mode: custom`, not `isolated`",
        Some("set `mode: custom`, or drop the map"),
    );
    assert_parse_error(
        "version: 1\nids:\n  mode: isolatd\n",
        3,
        9,
        "unknown value `isolatd`",
        Some("did you mean `isolated`?"),
    );
}

#[test]
fn bad_rlimits_are_located() {
    assert_parse_error(
        "version: 1\nrlimits:\n  nofile: -1\n",
        3,
        11,
        "rlimit -1 is negative",
        None,
    );
    assert_parse_error(
        "version: 1\nrlimits:\n  nofle: 1\n",
        3,
        3,
        "unknown rlimit `nofle`",
        Some("did you mean `nofile`?"),
    );
    assert_parse_error(
        "version: 1\nrlimits:\n  nproc: {soft: 200, hard: 100}\n",
        3,
        10,
        "rlimit soft limit 200 is above its hard limit 100",
        None,
    );
    assert_parse_error(
        "version: 1\nrlimits:\n  nproc: {soft: 1, hrd: 2}\n",
        3,
        20,
        "unknown field `hrd`",
        Some("did you mean `hard`?"),
    );
    assert_parse_error(
        "version: 1\nrlimits:\n  stack: lots\n",
        3,
        10,
        "rlimit `lots` is not a number",
        Some("use an integer or `unlimited`"),
    );
}

#[test]
fn other_values_are_checked() {
    let bad = [
        "version: 2\n",
        "version: 1\nextends: defalt\n",
        "version: 1\ndevices: [null, zero, disk]\n",
        "version: 1\nhostname: -web\n",
        "version: 1\nhostname: web_1\n",
        "version: 1\ndomainname: .example.org\n",
        "version: 1\nenv: {\"A=B\": x}\n",
        "version: 1\nenv: {A: \"a\\0b\"}\n",
        "version: 1\nworkdir: relative\n",
        "version: 1\nuser: Root\n",
        "version: 1\nuser: \"1000:\"\n",
        "version: 1\nuser: \"4294967295\"\n",
        "version: 1\nproc: {masked: [/proc/../etc]}\n",
        "version: 1\nproc: {masked: [/sys/kernel]}\n",
        "version: 1\nproc: {readonly: [/proc//sys]}\n",
        "version: 1\nproc: {readonly: [/proc/]}\n",
        "version: 1\nsys: {masked: [/proc/kcore]}\n",
        "version: 1\ninit: systemd\n",
    ];
    for yaml in bad {
        let err = parse_layer(yaml, "p.yaml").unwrap_err();
        assert!(matches!(err, PolicyError::Parse { line: 1 | 2, .. }), "{yaml:?}: {err}");
    }
    let good = "version: 1\nhostname: web-1.example\nuser: \"1000:1000\"\nenv: {PORT: 8080}\n\
                devices: [null, tty]\nproc: {masked: [/proc/driver/rtc]}\n\
                sys: {masked: [/sys/class/net]}\nrlimits: {core: 0, stack: unlimited, \
                nofile: {soft: 1024, hard: unlimited}}\ninit: builtin\n";
    parse_layer(good, "p.yaml").unwrap();
}

// ---- loading --------------------------------------------------------------

#[test]
fn files_need_a_version() {
    let dir = write_files(&[("p.yaml", "description: no version\n")]);
    let err = validate_file(&dir.path().join("p.yaml")).unwrap_err();
    assert!(matches!(err, PolicyError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("missing `version: 1`"), "{err}");
}

#[test]
fn unknown_profile_and_missing_file() {
    let err = load(Some("nope"), &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown policy profile `nope` (shipped profiles: default, hosting, sandbox; \
         a file path must contain `/` or end in .yaml)"
    );
    let err = load(Some("/nonexistent/p.yaml"), &[]).unwrap_err();
    assert!(matches!(err, PolicyError::Io { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("policy /nonexistent/p.yaml: cannot read it: "),
        "{err}"
    );
    assert!(matches!(PolicySource::parse("x.yml").unwrap(), PolicySource::File(_)));
}

#[test]
fn extends_a_shipped_profile() {
    let dir = write_files(&[(
        "p.yaml",
        "version: 1\nextends: default\ncapabilities:\n  add: [NET_ADMIN]\n",
    )]);
    let policy = validate_file(&dir.path().join("p.yaml")).unwrap();
    assert_eq!(
        policy.capabilities,
        Policy::builtin().capabilities.with(number("NET_ADMIN").unwrap())
    );
    // The description is inherited when the file gives none.
    assert_eq!(policy.description, load(None, &[]).unwrap().description);
}

#[test]
fn extends_a_file_relative_to_the_extending_file() {
    let dir = write_files(&[
        (
            "base.yaml",
            "version: 1\ndescription: base\nhostname: base\nenv: {A: base, B: base}\n",
        ),
        (
            "sub/child.yaml",
            "version: 1\nextends: ../base.yaml\ndescription: child\nenv: {B: child}\n",
        ),
    ]);
    let policy = validate_file(&dir.path().join("sub/child.yaml")).unwrap();
    assert_eq!(policy.description, "child");
    assert_eq!(policy.hostname.as_deref(), Some("base"));
    assert_eq!(policy.env["A"], "base");
    assert_eq!(policy.env["B"], "child");
    assert_eq!(policy.env["PATH"], DEFAULT_PATH);

    // An extended file that is missing is named along with its extender.
    let dir = write_files(&[("a.yaml", "version: 1\nextends: gone.yaml\n")]);
    let err = validate_file(&dir.path().join("a.yaml")).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("a.yaml: cannot read the policy it extends"), "{text}");
    assert!(text.contains("gone.yaml"), "{text}");
}

#[test]
fn extends_cycles_are_refused() {
    let dir = write_files(&[("a.yaml", "version: 1\nextends: ./a.yaml\n")]);
    let a = dir.path().join("a.yaml");
    let err = validate_file(&a).unwrap_err();
    let a_again = dir.path().join("./a.yaml");
    assert_eq!(
        err.to_string(),
        format!("policy {} extends {}: cycle", a.display(), a_again.display())
    );

    let dir = write_files(&[
        ("a.yaml", "version: 1\nextends: b.yaml\n"),
        ("b.yaml", "version: 1\nextends: a.yaml\n"),
    ]);
    let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
    match validate_file(&a).unwrap_err() {
        PolicyError::Cycle { chain } => assert_eq!(chain, [&a, &b, &a].map(|p| p.display().to_string()).to_vec()),
        other => panic!("expected a cycle, got {other}"),
    }
}

#[test]
fn extends_depth_is_limited() {
    let mut files: Vec<(String, String)> = (0..MAX_EXTENDS_DEPTH)
        .map(|i| (format!("p{i}.yaml"), format!("version: 1\nextends: p{}.yaml\n", i + 1)))
        .collect();
    files.push((format!("p{MAX_EXTENDS_DEPTH}.yaml"), "version: 1\n".to_string()));
    let refs: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let dir = write_files(&refs);
    let err = validate_file(&dir.path().join("p0.yaml")).unwrap_err();
    assert!(err.to_string().contains("longer than 16"), "{err}");
    // One less is fine.
    validate_file(&dir.path().join("p1.yaml")).unwrap();
}

// ---- --set ----------------------------------------------------------------

#[test]
fn set_examples() {
    let policy = load(
        None,
        &sets(&[
            "capabilities.allow=[SYS_ADMIN]",
            "env.FOO=bar",
            "ids.mode=passthrough",
            "rootfs.nosuid=false",
            "hostname=j1",
            "rlimits.nproc={soft: 100, hard: 200}",
            "rlimits.core=0",
            "devices=[null, zero]",
            "env.EMPTY=",
            "env.HOME=~",
        ]),
    )
    .unwrap();
    assert_eq!(policy.capabilities, caps(&["SYS_ADMIN"]));
    assert_eq!(policy.env["FOO"], "bar");
    assert_eq!(policy.env["EMPTY"], "");
    assert!(!policy.env.contains_key("HOME"), "null removes a variable");
    assert_eq!(policy.ids.mode, IdMode::Passthrough);
    assert!(!policy.rootfs.nosuid);
    assert!(policy.rootfs.nodev);
    assert_eq!(policy.hostname.as_deref(), Some("j1"));
    assert_eq!(policy.rlimits["nproc"], Rlimit { soft: 100, hard: 200 });
    assert_eq!(policy.rlimits["core"], Rlimit { soft: 0, hard: 0 });
    assert_eq!(policy.devices, ["null", "zero"]);
}

#[test]
fn set_errors_name_the_argument() {
    assert_eq!(
        set_error("capabilities.allow=[FOO]"),
        "--set capabilities.allow=[FOO]: unknown capability `FOO`"
    );
    assert_eq!(
        set_error("capabilites.allow=[CHOWN]"),
        "--set capabilites.allow=[CHOWN]: unknown field `capabilites` (did you mean `capabilities`?)"
    );
    assert_eq!(
        set_error("no_new_privs=yes"),
        "--set no_new_privs=yes: invalid boolean (true or false expected)"
    );
    assert_eq!(
        set_error("ids.mode=custom"),
        "--set ids.mode=custom: `ids.mode` is custom but no `ids.map` is given"
    );
}

#[test]
fn set_refuses_malformed_keys() {
    for arg in [
        "Capabilities.allow=[CHOWN]",
        "capabilities..allow=[CHOWN]",
        "capabilities.allow.=[CHOWN]",
        ".hostname=x",
        "=x",
        "env.=x",
        "env.A.B=x",
        "env=x",
        "env.A-B=x",
        "env.\"A\"=x",
        "host name=x",
        "hostname: x=y",
        "extends=default",
        "version=1",
        "no equals sign",
    ] {
        let err = set_error(arg);
        assert!(err.starts_with(&format!("--set {arg}: ")), "{err}");
    }
    assert_eq!(
        set_error("rootfs.NoSuid=false"),
        "--set rootfs.NoSuid=false: bad key `rootfs.NoSuid`: \
         segment `NoSuid` must be one or more lower-case letters and `_`"
    );
}

#[test]
fn set_refuses_malformed_values() {
    assert!(
        set_error("capabilities.allow=[SYS_ADMIN")
            .starts_with("--set capabilities.allow=[SYS_ADMIN: malformed value `[SYS_ADMIN`: "),
    );
    assert!(set_error("hostname={a: [}").contains("malformed value"));
    assert_eq!(
        set_error("hostname=x\nids: {}"),
        "--set hostname=x\\nids: {}: malformed value `x\\nids: {}`: \
         mapping values are not allowed in this context"
    );
    assert!(set_error("rlimits.nofile={soft: 10, hard: 5}").contains("above its hard limit"));
    assert!(set_error("env.FOO=[a]").contains("expected string"));
}

#[test]
fn set_values_cannot_inject_other_keys() {
    for arg in [
        "hostname=x\nids: {mode: passthrough}",
        "hostname=x\rids: {mode: passthrough}",
        "hostname=x\u{85}ids: {mode: passthrough}",
        "hostname=x\u{2028}ids: {mode: passthrough}",
        "env.A=x\nids:\n  mode: passthrough",
        "env.A=|\n  x\nids: {mode: passthrough}",
        "rootfs.nosuid=false\n---\nids: {mode: passthrough}",
    ] {
        match load(None, &sets(&[arg])) {
            Err(e @ PolicyError::BadSet { .. }) => {
                // Control characters of the argument are escaped.
                let text = e.to_string();
                assert!(!text.contains(['\n', '\r', '\u{85}', '\u{2028}']), "{text:?}");
            }
            Ok(policy) => assert_eq!(policy.ids.mode, IdMode::Isolated, "{arg:?}"),
            Err(other) => panic!("{arg:?}: {other}"),
        }
    }
    // A multi-line value is fine as long as it stays below its key.
    let policy = load(None, &sets(&["capabilities.allow=\n- CHOWN\n- KILL"])).unwrap();
    assert_eq!(policy.capabilities, caps(&["CHOWN", "KILL"]));
}

// ---- merging --------------------------------------------------------------

#[test]
fn env_and_rlimits_merge_by_name() {
    let dir = write_files(&[
        (
            "base.yaml",
            "version: 1\nenv: {TERM: vt100, LANG: C}\nrlimits: {nofile: 100, core: 0}\n",
        ),
        (
            "p.yaml",
            "version: 1\nextends: base.yaml\nenv: {TERM: xterm, HOME: null}\nrlimits: {nofile: 200}\n",
        ),
    ]);
    let path = dir.path().join("p.yaml");
    let policy = load(Some(path.to_str().unwrap()), &sets(&["env.LANG=C.UTF-8"])).unwrap();
    let env: Vec<(&str, &str)> = policy.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(env, [("LANG", "C.UTF-8"), ("PATH", DEFAULT_PATH), ("TERM", "xterm")]);
    assert_eq!(policy.rlimits["nofile"], Rlimit { soft: 200, hard: 200 });
    assert_eq!(policy.rlimits["core"], Rlimit { soft: 0, hard: 0 });
}

#[test]
fn capability_allow_add_and_drop() {
    let dir = write_files(&[
        (
            "base.yaml",
            "version: 1\ncapabilities: {add: [NET_ADMIN, SYS_TIME], drop: [CHOWN]}\n",
        ),
        (
            "p.yaml",
            "version: 1\nextends: base.yaml\ncapabilities: {allow: [CHOWN, SETUID], drop: [cap_sys_time]}\n",
        ),
    ]);
    let path = dir.path().join("p.yaml");
    let policy = validate_file(&path).unwrap();
    // Layer by layer: p's allow replaces base's result, then p's drop.
    assert_eq!(policy.capabilities, caps(&["CHOWN", "SETUID"]));

    let spec = path.to_str().unwrap();
    let policy = load(Some(spec), &sets(&["capabilities.add=[MKNOD, CHOWN]"])).unwrap();
    assert_eq!(policy.capabilities, caps(&["CHOWN", "SETUID", "MKNOD"]));

    // An allow on top is exactly that list, whatever the layers below did.
    let policy = load(Some(spec), &sets(&["capabilities.allow=[SYS_ADMIN]"])).unwrap();
    assert_eq!(policy.capabilities, caps(&["SYS_ADMIN"]));

    let base = dir.path().join("base.yaml");
    let policy = validate_file(&base).unwrap();
    let expected = Policy::builtin()
        .capabilities
        .with(number("NET_ADMIN").unwrap())
        .with(number("SYS_TIME").unwrap())
        .without(number("CHOWN").unwrap());
    assert_eq!(policy.capabilities, expected);
}

#[test]
fn mandatory_masks_are_kept() {
    let dir = write_files(&[(
        "p.yaml",
        "version: 1\nproc:\n  masked: [/proc/driver, /proc/kcore]\n  readonly: []\n\
         sys:\n  masked: [/sys/class/net]\n",
    )]);
    let policy = validate_file(&dir.path().join("p.yaml")).unwrap();
    let mut masked: Vec<&str> = MANDATORY_PROC_MASKED.to_vec();
    masked.push("/proc/driver");
    assert_eq!(policy.proc.masked, masked);
    assert_eq!(policy.proc.readonly, MANDATORY_PROC_READONLY);
    let mut sys: Vec<&str> = MANDATORY_SYS_MASKED.to_vec();
    sys.push("/sys/class/net");
    assert_eq!(policy.sys.masked, sys);
    assert!(policy.sys.readonly.is_empty());
}

#[test]
fn seccomp_lists_accumulate_and_later_layers_win() {
    let policy = load(
        None,
        &sets(&[
            "seccomp.deny=[ptrace, mount]",
            "seccomp.allow=[personality]",
            "seccomp.allow=[mount]",
            "seccomp.deny=[ptrace]",
        ]),
    )
    .unwrap();
    assert_eq!(policy.seccomp.deny, ["ptrace"]);
    assert_eq!(policy.seccomp.allow, ["personality", "mount"]);
    assert!(set_error("seccomp={deny: [mount], allow: [mount]}").contains("`mount` is both in `deny` and in `allow`"));
}

#[test]
fn id_modes_resolve() {
    let policy = load(None, &sets(&["ids={mode: custom, map: [\"0:100000:65536\"]}"])).unwrap();
    let map = IdMap(vec![IdMapEntry {
        inside: 0,
        outside: 100000,
        count: 65536,
    }]);
    assert_eq!(policy.ids.map.as_ref(), Some(&map));
    assert_eq!(policy.ids.gid_map.as_ref(), Some(&map), "gid_map defaults to map");

    // Leaving custom mode discards the inherited maps.
    let policy = load(
        None,
        &sets(&["ids={mode: custom, map: [\"0:100000:65536\"]}", "ids.mode=passthrough"]),
    )
    .unwrap();
    assert_eq!(policy.ids.mode, IdMode::Passthrough);
    assert_eq!((policy.ids.map, policy.ids.gid_map), (None, None));

    // A map given on its own while the mode is not custom is refused.
    assert!(set_error("ids.map=[\"0:1:1\"]").contains("only used with `mode: custom`"));

    let dir = write_files(&[("p.yaml", "version: 1\nids: {mode: custom}\n")]);
    let err = validate_file(&dir.path().join("p.yaml")).unwrap_err();
    assert!(matches!(err, PolicyError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .ends_with("`ids.mode` is custom but no `ids.map` is given"),
        "{err}"
    );
}

#[test]
fn policy_round_trips_through_json() {
    let policy = load(
        None,
        &sets(&[
            "ids={mode: custom, map: [\"0:100000:65536\"], gid_map: [\"0:200000:65536\"]}",
            "rlimits.stack=unlimited",
            "init=builtin",
        ]),
    )
    .unwrap();
    let json = serde_json::to_string(&policy).unwrap();
    assert!(json.contains(r#""mode":"custom""#), "{json}");
    assert!(json.contains(r#""init":"builtin""#), "{json}");
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), policy);
}

// ---- shipped profiles -----------------------------------------------------

#[test]
fn every_shipped_profile_loads_and_describes_itself() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(policies_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let layer = parse_layer(&text, &name).unwrap_or_else(|e| panic!("{e}"));
        assert!(layer.has_version(), "{name}: no version");
        let description = layer.description().unwrap_or_default();
        assert!(!description.trim().is_empty(), "{name}: no description");
        assert!(SHIPPED.contains(&name.as_str()), "{name} is not in SHIPPED");
        assert_eq!(shipped(&name), Some(text.as_str()), "{name}: embedded text differs");
        load(Some(&name), &[]).unwrap_or_else(|e| panic!("{e}"));
        validate_file(&path).unwrap_or_else(|e| panic!("{e}"));
        found.push(name);
    }
    found.sort();
    let mut shipped_names = SHIPPED.to_vec();
    shipped_names.sort();
    assert_eq!(found, shipped_names, "SHIPPED and policies/ differ");
}

#[test]
fn default_profile_is_the_builtin_defaults() {
    let mut policy = load(None, &[]).unwrap();
    assert!(policy.description.contains("hardened default"));
    let builtin = Policy::builtin();
    policy.description = builtin.description.clone();
    assert_eq!(policy, builtin);
    assert_eq!(load(Some("default"), &[]).unwrap().capabilities, builtin.capabilities);
}

#[test]
fn builtin_defaults_are_as_documented() {
    let policy = Policy::builtin();
    assert_eq!(policy.capabilities.names(), {
        let mut names: Vec<String> = DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect();
        names.sort_by_key(|n| number(n));
        names
    });
    assert!(!policy.capabilities.contains(number("MKNOD").unwrap()));
    assert!(!policy.capabilities.contains(number("NET_RAW").unwrap()));
    assert_eq!(policy.ids.mode, IdMode::Isolated);
    assert_eq!(policy.devices, DEVICES);
    assert_eq!(policy.env["HOME"], "/root");
    assert_eq!(policy.init, InitMode::None);
    for path in MANDATORY_PROC_MASKED.iter().chain(MANDATORY_PROC_READONLY) {
        layer::KernelPath::<'p'>::try_from(path.to_string()).unwrap();
    }
    for path in MANDATORY_SYS_MASKED {
        layer::KernelPath::<'s'>::try_from(path.to_string()).unwrap();
    }
}
