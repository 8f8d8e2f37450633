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

/// `text` with every run of white space made one space, so that checks do
/// not depend on where [`explain`] wraps its lines.
fn flat(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
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
    // Keys that do not exist are errors (limits are under `resources`).
    for key in ["cgroup", "net"] {
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

// ---- allowances -------------------------------------------------------------

#[test]
fn allowance_defaults_follow_freebsd() {
    let allow = Policy::builtin().allow;
    assert!(allow.set_hostname, "set_hostname is the one allowance on by default");
    let others = [
        allow.mount,
        allow.raw_sockets,
        allow.sysvipc,
        allow.nested_userns,
        allow.ptrace,
        allow.chroot,
        allow.mknod,
    ];
    assert!(others.iter().all(|&on| !on), "{allow:?}");
    assert_eq!(allow.mount_types, ["tmpfs"]);
    assert_eq!(allow.socket_families, ["unix", "inet", "inet6", "netlink"]);
}

#[test]
fn allowances_merge_field_by_field() {
    let dir = write_files(&[
        (
            "base.yaml",
            "version: 1\nallow:\n  sysvipc: true\n  socket_families: [unix, inet, packet]\n",
        ),
        (
            "p.yaml",
            "version: 1\nextends: base.yaml\nallow: {ptrace: true, socket_families: [unix]}\n",
        ),
    ]);
    let policy = load_source(
        &PolicySource::File(dir.path().join("p.yaml")),
        &sets(&["allow.mount=true", "allow.mount_types=[tmpfs, overlay, tmpfs]"]),
    )
    .unwrap();
    let allow = &policy.allow;
    assert!(allow.sysvipc && allow.ptrace && allow.mount && allow.set_hostname);
    assert!(!allow.raw_sockets);
    assert_eq!(allow.socket_families, ["unix"], "lists are replaced");
    assert_eq!(allow.mount_types, ["tmpfs", "overlay"], "repeats are dropped");
}

#[test]
fn bad_allowances_are_located() {
    assert_parse_error(
        "version: 1\nallow:\n  mount_types: [tmpfs, ext4]\n",
        3,
        24,
        "file-system type `ext4` cannot be allowed",
        Some("the kernel lets a user namespace mount only tmpfs, ramfs, devpts, mqueue, fuse, overlay, binder"),
    );
    assert_parse_error(
        "version: 1\nallow:\n  mount_types:\n    - proc\n",
        4,
        7,
        "file-system type `proc` cannot be allowed (a fresh one would bypass the jail's masks, so jaild never \
         allows it)",
        None,
    );
    assert_parse_error(
        "version: 1\nallow: {mount_types: [overlayy]}\n",
        2,
        23,
        "file-system type `overlayy` cannot be allowed",
        Some("did you mean `overlay`?"),
    );
    assert_parse_error(
        "version: 1\nallow:\n  socket_families: [unix, AF_INET6]\n",
        3,
        27,
        "unknown socket family `AF_INET6`",
        Some("write `inet6`"),
    );
    assert_parse_error(
        "version: 1\nallow:\n  socket_families: [unix, route]\n",
        3,
        27,
        "unknown socket family `route`",
        Some("write `netlink`"),
    );
    assert_parse_error(
        "version: 1\nallow:\n  socket_families: [bluetoth]\n",
        3,
        21,
        "unknown socket family `bluetoth`",
        Some("did you mean `bluetooth`?"),
    );
    assert_parse_error(
        "version: 1\nallow:\n  raw_socket: true\n",
        3,
        3,
        "unknown field `raw_socket`",
        Some("did you mean `raw_sockets`?"),
    );
    assert_parse_error(
        "version: 1\nallow:\n  ptrace: yes\n",
        3,
        11,
        "invalid boolean (true or false expected)",
        None,
    );
}

#[test]
fn socket_family_table_is_consistent() {
    for (i, &(name, nr)) in SOCKET_FAMILIES.iter().enumerate() {
        assert_eq!(socket_family(name), Some(nr));
        assert!(
            SOCKET_FAMILIES[..i].iter().all(|&(n, v)| n != name && v != nr),
            "{name} ({nr}) is listed twice"
        );
    }
    for name in [
        "unix",
        "inet",
        "inet6",
        "netlink",
        "packet",
        "alg",
        "vsock",
        "can",
        "bluetooth",
        "xdp",
        "tipc",
    ] {
        assert!(socket_family(name).is_some(), "{name}");
    }
    assert_eq!(socket_family("packet"), Some(libc::AF_PACKET));
    for name in DEFAULT_SOCKET_FAMILIES {
        assert!(socket_family(name).is_some(), "{name}");
    }
}

#[test]
fn effective_capabilities_follow_the_allowances() {
    let mask = |p: &Policy| effective_capabilities(p);
    let builtin = Policy::builtin();
    // The default: the mask, plus SYS_ADMIN for set_hostname, minus SYS_CHROOT.
    let mut expected = builtin.capabilities.with(number("SYS_ADMIN").unwrap());
    expected = expected.without(number("SYS_CHROOT").unwrap());
    assert_eq!(mask(&builtin), expected);

    let none = load(None, &sets(&["capabilities.allow=[]", "allow.set_hostname=false"])).unwrap();
    assert_eq!(mask(&none), CapMask::EMPTY);

    for (allowance, cap) in [
        ("set_hostname", "SYS_ADMIN"),
        ("mount", "SYS_ADMIN"),
        ("raw_sockets", "NET_RAW"),
        ("ptrace", "SYS_PTRACE"),
        ("chroot", "SYS_CHROOT"),
        ("mknod", "MKNOD"),
    ] {
        let policy = load(
            None,
            &sets(&[
                "capabilities.allow=[]",
                "allow.set_hostname=false",
                &format!("allow.{allowance}=true"),
            ]),
        )
        .unwrap();
        assert_eq!(mask(&policy), caps(&[cap]), "{allowance}");
        assert_eq!(implied_capabilities(&policy.allow), [(allowance, number(cap).unwrap())]);
    }
    // chroot off takes SYS_CHROOT out even when the mask lists it.
    let policy = load(
        None,
        &sets(&["capabilities.allow=[SYS_CHROOT, CHOWN]", "allow.set_hostname=false"]),
    )
    .unwrap();
    assert_eq!(mask(&policy), caps(&["CHOWN"]));
}

// ---- Landlock -----------------------------------------------------------------

#[test]
fn landlock_defaults_and_merge() {
    let l = Policy::builtin().landlock;
    assert_eq!(l.mode, LandlockMode::BestEffort);
    assert!(l.readonly.is_empty() && l.noexec.is_empty());
    assert_eq!((l.tcp_bind, l.tcp_connect), (None, None));
    assert_eq!(l.scopes, LANDLOCK_SCOPES);

    let dir = write_files(&[
        (
            "base.yaml",
            "version: 1\nlandlock:\n  mode: required\n  readonly: [/usr, /etc, /usr]\n  noexec: [/tmp]\n  \
             tcp_bind: [80]\n  tcp_connect: [443, 53, 443]\n  scopes: [signal]\n",
        ),
        (
            "p.yaml",
            "version: 1\nextends: base.yaml\nlandlock:\n  tcp_bind: null\n  noexec: [/var/tmp]\n",
        ),
    ]);
    let base = validate_file(&dir.path().join("base.yaml")).unwrap().landlock;
    assert_eq!(base.mode, LandlockMode::Required);
    assert_eq!(base.readonly, ["/usr", "/etc"]);
    assert_eq!(base.tcp_bind, Some(vec![80]));
    assert_eq!(base.tcp_connect, Some(vec![443, 53]));
    assert_eq!(base.scopes, ["signal"]);

    let l = validate_file(&dir.path().join("p.yaml")).unwrap().landlock;
    assert_eq!(l.mode, LandlockMode::Required, "inherited");
    assert_eq!(l.readonly, ["/usr", "/etc"], "inherited");
    assert_eq!(l.noexec, ["/var/tmp"], "replaced");
    assert_eq!(l.tcp_bind, None, "an explicit null lifts the inherited list");
    assert_eq!(l.tcp_connect, Some(vec![443, 53]), "inherited");

    let l = load(
        None,
        &sets(&["landlock.tcp_connect=[]", "landlock.mode=off", "landlock.scopes=[]"]),
    )
    .unwrap()
    .landlock;
    assert_eq!(l.tcp_connect, Some(vec![]), "the empty list allows no port");
    assert_eq!(l.mode, LandlockMode::Off);
    assert!(l.scopes.is_empty());
    let l = load(Some("sandbox"), &sets(&["landlock.tcp_connect=null"]))
        .unwrap()
        .landlock;
    assert_eq!(l.tcp_connect, None);
}

#[test]
fn bad_landlock_values_are_located() {
    assert_parse_error(
        "version: 1\nlandlock:\n  mode: strict\n",
        3,
        9,
        "unknown value `strict`",
        Some("expected one of `off`, `best_effort`, `required`"),
    );
    assert_parse_error(
        "version: 1\nlandlock:\n  readonly: [/usr, etc]\n",
        3,
        20,
        "path `etc` is not absolute",
        None,
    );
    assert_parse_error(
        "version: 1\nlandlock:\n  noexec: [/tmp/../etc]\n",
        3,
        12,
        "path `/tmp/../etc` is not normalised (no `//`, `.`, `..` or trailing `/` allowed)",
        None,
    );
    assert_parse_error(
        "version: 1\nlandlock:\n  noexec: [/tmp/]\n",
        3,
        12,
        "path `/tmp/` is not normalised (no `//`, `.`, `..` or trailing `/` allowed)",
        None,
    );
    assert_parse_error(
        "version: 1\nlandlock:\n  tcp_bind: [80, 70000]\n",
        3,
        18,
        "70000 is not a TCP port",
        Some("ports are 0 to 65535"),
    );
    assert_parse_error(
        "version: 1\nlandlock:\n  tcp_connect: [-1]\n",
        3,
        17,
        "-1 is not a TCP port",
        Some("ports are 0 to 65535"),
    );
    assert_parse_error(
        "version: 1\nlandlock:\n  scopes: [signals]\n",
        3,
        12,
        "unknown Landlock scope `signals`",
        Some("did you mean `signal`?"),
    );
}

#[test]
fn landlock_required_and_mount_cannot_be_combined() {
    let dir = write_files(&[(
        "p.yaml",
        "version: 1\nallow: {mount: true}\nlandlock: {mode: required}\n",
    )]);
    let err = validate_file(&dir.path().join("p.yaml")).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, PolicyError::Invalid { .. }), "{text}");
    assert!(
        text.starts_with(&format!("policy {}: ", dir.path().join("p.yaml").display())),
        "{text}"
    );
    assert!(text.contains("Landlock forbids mount topology changes"), "{text}");
    assert!(
        text.contains("set landlock.mode: best_effort (the file-system rules are then skipped) or allow.mount: false"),
        "{text}"
    );
}

#[test]
fn landlock_required_and_mount_from_the_command_line() {
    let err = load(Some("sandbox"), &sets(&["allow.mount=true"])).unwrap_err();
    assert!(matches!(err, PolicyError::BadSet { .. }), "{err}");
    assert!(err.to_string().starts_with("--set allow.mount=true: "), "{err}");
    // best_effort with mount allowed is fine: the file rules are skipped.
    let policy = load(
        Some("sandbox"),
        &sets(&["allow.mount=true", "landlock.mode=best_effort"]),
    )
    .unwrap();
    assert!(policy.allow.mount);
    let text = flat(&explain(&policy));
    assert!(text.contains("the file-system rules are skipped"), "{text}");
    assert!(text.contains("(skipped: allow.mount is on)"), "{text}");
}

// ---- volumes ------------------------------------------------------------------

#[test]
fn volumes_get_their_defaults_and_replace_inherited_ones() {
    assert!(Policy::builtin().mounts.is_empty());
    let dir = write_files(&[
        (
            "base.yaml",
            "version: 1\nmounts:\n  - source: /srv/shared\n    target: /mnt/shared\n    readonly: true\n    \
             map: [\"0:1000:1\"]\n  - {source: /srv/a, target: /a, nosuid: false, nodev: false, noexec: true, \
             create: false}\n",
        ),
        (
            "p.yaml",
            "version: 1\nextends: base.yaml\nmounts: [{source: /data, target: /var/lib/data}]\n",
        ),
    ]);
    let base = validate_file(&dir.path().join("base.yaml")).unwrap().mounts;
    assert_eq!(
        base,
        [
            MountPolicy {
                source: "/srv/shared".to_string(),
                target: "/mnt/shared".to_string(),
                readonly: true,
                nosuid: true,
                nodev: true,
                noexec: false,
                create: true,
                map: Some(IdMap(vec![IdMapEntry {
                    inside: 0,
                    outside: 1000,
                    count: 1,
                }])),
            },
            MountPolicy {
                source: "/srv/a".to_string(),
                target: "/a".to_string(),
                readonly: false,
                nosuid: false,
                nodev: false,
                noexec: true,
                create: false,
                map: None,
            },
        ]
    );
    let mounts = validate_file(&dir.path().join("p.yaml")).unwrap().mounts;
    assert_eq!(mounts.len(), 1, "a layer's list replaces the inherited one");
    assert_eq!(
        (mounts[0].source.as_str(), mounts[0].target.as_str()),
        ("/data", "/var/lib/data")
    );

    let policy = load(None, &sets(&["mounts=[{source: /a, target: /b}]"])).unwrap();
    assert_eq!(policy.mounts[0].target, "/b");
    let policy = load_source(&PolicySource::File(dir.path().join("p.yaml")), &sets(&["mounts=[]"])).unwrap();
    assert!(policy.mounts.is_empty());
}

#[test]
fn bad_volumes_are_located() {
    assert_parse_error(
        "version: 1\nmounts:\n  - {source: srv, target: /mnt}\n",
        3,
        14,
        "volume source `srv` is not absolute",
        None,
    );
    assert_parse_error(
        "version: 1\nmounts:\n  - {source: /srv/../etc, target: /mnt}\n",
        3,
        14,
        "volume source `/srv/../etc` is not normalised (no `//`, `.`, `..` or trailing `/` allowed)",
        None,
    );
    assert_parse_error(
        "version: 1\nmounts:\n  - source: /srv\n    target: /\n",
        4,
        13,
        "a volume cannot be mounted on the jail's `/`",
        Some("the jail's root is the rootfs; mount the volume on a directory in it"),
    );
    for (dir, target) in [("/proc", "/proc"), ("/sys", "/sys/fs/cgroup"), ("/dev", "/dev/shm")] {
        let yaml = format!("version: 1\nmounts:\n  - source: /srv\n    target: {target}\n");
        assert_parse_error(
            &yaml,
            4,
            13,
            &format!("volume target `{target}` is in {dir}"),
            Some(&format!(
                "jaild builds the jail's {dir} itself; mount the volume elsewhere, e.g. /mnt"
            )),
        );
    }
    // Only the directories themselves: /devices or /system are fine.
    parse_layer(
        "version: 1\nmounts: [{source: /a, target: /devices}, {source: /b, target: /system}]\n",
        "p",
    )
    .unwrap();
    assert_parse_error(
        "version: 1\nmounts:\n  - {source: /srv, target: mnt}\n",
        3,
        28,
        "volume target `mnt` is not absolute",
        None,
    );
    assert_parse_error(
        "version: 1\nmounts:\n  - {source: /srv, target: /mnt, ro: true}\n",
        3,
        34,
        "unknown field `ro`",
        None,
    );
    assert_parse_error(
        "version: 1\nmounts:\n  - {source: /srv, target: /mnt, map: [\"0:1000:1\", \"0:2000:1\"]}\n",
        3,
        39,
        "id map extent 2 (0:2000:1) overlaps extent 1 (0:1000:1) inside the jail",
        None,
    );
    // A missing target, and a repeated one, point at their volume.
    let err = parse_layer("version: 1\nmounts:\n  - source: /srv\n", "p.yaml").unwrap_err();
    assert!(err.to_string().contains("missing field `target`"), "{err}");
    assert!(matches!(err, PolicyError::Parse { line: 3, .. }), "{err}");
    let err = parse_layer(
        "version: 1\nmounts:\n  - {source: /a, target: /mnt}\n  - {source: /b, target: /srv}\n  - {source: /c, \
         target: /mnt}\n",
        "p.yaml",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy p.yaml:5:5: volume 3 has the same target `/mnt` as volume 1 (each volume needs a target of its \
         own)"
    );
}

// ---- ids: remap, shifted -------------------------------------------------------

#[test]
fn root_remap_defaults_and_merge() {
    let ids = Policy::builtin().ids;
    assert_eq!(ids.root, RootMode::Passthrough);
    assert_eq!(ids.remap_uid, DEFAULT_REMAP_UID);
    assert_eq!(DEFAULT_REMAP_UID, 2_999_999_999);
    // Outside the default id pool.
    let pool_end = u64::from(crate::idmap::IdPool::DEFAULT_START)
        + u64::from(crate::idmap::IdPool::DEFAULT_SLOTS) * u64::from(crate::idmap::SLOT_SIZE);
    assert!(u64::from(DEFAULT_REMAP_UID) >= pool_end);

    let policy = load(None, &sets(&["ids={mode: passthrough, root: remap}"])).unwrap();
    assert_eq!(
        (policy.ids.mode, policy.ids.root),
        (IdMode::Passthrough, RootMode::Remap)
    );
    assert_eq!(policy.ids.remap_uid, DEFAULT_REMAP_UID);
    let policy = load(
        None,
        &sets(&["ids.mode=passthrough", "ids.root=remap", "ids.remap_uid=3000000000"]),
    )
    .unwrap();
    assert_eq!(policy.ids.root, RootMode::Remap);
    assert_eq!(policy.ids.remap_uid, 3_000_000_000);
    // Leaving pass-through resets root, as leaving custom drops the maps.
    let policy = load(
        None,
        &sets(&["ids={mode: passthrough, root: remap}", "ids.mode=isolated"]),
    )
    .unwrap();
    assert_eq!(
        (policy.ids.mode, policy.ids.root),
        (IdMode::Isolated, RootMode::Passthrough)
    );
    // Keeping pass-through keeps it.
    let policy = load(
        None,
        &sets(&["ids={mode: passthrough, root: remap}", "ids.mode=passthrough"]),
    )
    .unwrap();
    assert_eq!(policy.ids.root, RootMode::Remap);
}

#[test]
fn root_remap_needs_passthrough() {
    assert_parse_error(
        "version: 1\nids:\n  mode: isolated\n  root: remap\n",
        3,
        3,
        "`root: remap` is only used with `mode: passthrough`, not `isolated`",
        Some(
            "in isolated mode the jail's root is already an unprivileged host uid; drop `root`, or set `mode: \
             passthrough`",
        ),
    );
    // Across layers: the inherited mode is isolated.
    let err = set_error("ids.root=remap");
    assert!(
        err.contains("`ids.root: remap` is only used with `ids.mode: passthrough`, but the mode is isolated"),
        "{err}"
    );
    let dir = write_files(&[("p.yaml", "version: 1\nids: {root: remap}\n")]);
    let err = validate_file(&dir.path().join("p.yaml")).unwrap_err();
    assert!(matches!(err, PolicyError::Invalid { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("drop `root: remap`, or set `mode: passthrough`"),
        "{err}"
    );
}

#[test]
fn bad_remap_uids_are_located() {
    let hint = "pick a host uid that no account and no jail uses, such as the default 2999999999";
    assert_parse_error(
        "version: 1\nids:\n  remap_uid: 0\n",
        3,
        14,
        "`remap_uid` 0 is host root, which `root: remap` exists to avoid",
        Some(hint),
    );
    assert_parse_error(
        "version: 1\nids:\n  remap_uid: 4294967295\n",
        3,
        14,
        "`remap_uid` 4294967295 is not a valid uid (the largest is 4294967294)",
        Some(hint),
    );
    assert_parse_error(
        "version: 1\nids:\n  remap_uid: 1000\n",
        3,
        14,
        "`remap_uid` 1000 is below 65536: it would also be one of the jail's own ids, passed through",
        Some(hint),
    );
    assert_parse_error(
        "version: 1\nids: {remap_uid: -5}\n",
        2,
        18,
        "`remap_uid` -5 is not a valid uid (the largest is 4294967294)",
        Some(hint),
    );
}

#[test]
fn shifted_mode_resolves() {
    let policy = load(None, &sets(&["ids.mode=shifted"])).unwrap();
    assert_eq!(policy.ids.mode, IdMode::Shifted);
    assert_eq!(policy.ids.mode.to_string(), "shifted");
    assert!(set_error("ids={mode: shifted, map: [\"0:1:1\"]}").contains("only used with `mode: custom`"));
    assert!(set_error("ids={mode: shifted, root: remap}").contains("not `shifted`"));
    // A volume may have its own map whatever the mode.
    for mode in ["shifted", "custom", "isolated", "passthrough"] {
        let mut args = vec![format!("ids.mode={mode}")];
        if mode == "custom" {
            args = vec!["ids={mode: custom, map: [\"0:100000:65536\"]}".to_string()];
        }
        args.push("mounts=[{source: /srv, target: /mnt, map: [\"0:1000:1\"]}]".to_string());
        let policy = load(None, &args).unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert!(policy.mounts[0].map.is_some());
    }
}

#[test]
fn new_fields_round_trip_through_json() {
    let policy = load(
        Some("hosting"),
        &sets(&[
            "ids={mode: passthrough, root: remap}",
            "mounts=[{source: /srv, target: /mnt, map: [\"0:1000:1\"]}]",
            "landlock.tcp_connect=[443]",
        ]),
    )
    .unwrap();
    let json = serde_json::to_string(&policy).unwrap();
    for needle in [
        r#""root":"remap""#,
        r#""remap_uid":2999999999"#,
        r#""mode":"best_effort""#,
        r#""tcp_bind":null"#,
        r#""tcp_connect":[443]"#,
        r#""socket_families":["unix","inet","inet6","netlink","packet"]"#,
        r#""map":[{"inside":0,"outside":1000,"count":1}]"#,
    ] {
        assert!(json.contains(needle), "{needle} not in {json}");
    }
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), policy);
}

// ---- shipped profiles, explain, schema -------------------------------------------

#[test]
fn hosting_profile_is_vm_like() {
    let p = load(Some("hosting"), &[]).unwrap();
    assert_eq!(p.init, InitMode::Builtin);
    assert!(!p.no_new_privs);
    assert!(!p.rootfs.nosuid, "setuid su and ping must work");
    assert!(p.allow.set_hostname && p.allow.sysvipc && p.allow.chroot && p.allow.raw_sockets);
    assert!(!p.allow.mount && !p.allow.nested_userns && !p.allow.mknod);
    assert_eq!(p.ids.mode, IdMode::Isolated);
    assert_eq!(p.landlock.mode, LandlockMode::BestEffort);
    assert!(p.landlock.readonly.is_empty() && p.landlock.noexec.is_empty());
    assert_eq!((&p.landlock.tcp_bind, &p.landlock.tcp_connect), (&None, &None));
    assert_eq!(p.landlock.scopes, LANDLOCK_SCOPES);
    let effective = effective_capabilities(&p);
    for cap in [
        "NET_ADMIN",
        "NET_RAW",
        "SYS_CHROOT",
        "KILL",
        "SETUID",
        "SYS_ADMIN",
        "IPC_OWNER",
    ] {
        assert!(effective.contains(number(cap).unwrap()), "{cap}");
    }
    for cap in [
        "SYS_MODULE",
        "SYS_RAWIO",
        "MKNOD",
        "SYS_PTRACE",
        "DAC_READ_SEARCH",
        "SYS_BOOT",
    ] {
        assert!(!effective.contains(number(cap).unwrap()), "{cap}");
    }
}

#[test]
fn sandbox_profile_is_tight() {
    let p = load(Some("sandbox"), &[]).unwrap();
    assert!(p.no_new_privs);
    assert!(p.rootfs.readonly && p.rootfs.nosuid && p.rootfs.nodev);
    assert_eq!(p.capabilities, CapMask::EMPTY);
    assert_eq!(effective_capabilities(&p), CapMask::EMPTY);
    let a = &p.allow;
    let all = [
        a.set_hostname,
        a.mount,
        a.raw_sockets,
        a.sysvipc,
        a.nested_userns,
        a.ptrace,
        a.chroot,
        a.mknod,
    ];
    assert!(all.iter().all(|&on| !on), "{a:?}");
    assert_eq!(a.socket_families, ["unix"]);
    assert_eq!(p.landlock.mode, LandlockMode::Required);
    assert_eq!(p.landlock.readonly, ["/"]);
    assert_eq!(p.landlock.noexec, ["/tmp", "/dev/shm"]);
    assert_eq!(
        (p.landlock.tcp_bind.as_deref(), p.landlock.tcp_connect.as_deref()),
        (Some(&[][..]), Some(&[][..]))
    );
    assert!(!p.proc.sys_net_writable);
}

#[test]
fn every_shipped_profile_explains_itself() {
    for name in SHIPPED {
        let policy = load(Some(name), &[]).unwrap();
        let text = explain(&policy);
        for heading in [
            "Policy:",
            "Ids: ",
            "Capabilities",
            "Allowances",
            "Landlock: ",
            "Paths:",
            "Volumes:",
            "System calls",
            "Process:",
        ] {
            assert!(text.contains(heading), "{name}: no {heading:?} in\n{text}");
        }
        assert!(
            text.lines()
                .all(|l| l.chars().count() <= 100 || !l.trim().contains(' ')),
            "{name}:\n{text}"
        );
        assert!(text.ends_with('\n') && !text.ends_with("\n\n"));
    }
}

#[test]
fn explain_says_what_each_id_mode_means_for_the_host() {
    let text = flat(&explain(&load(None, &sets(&["ids.mode=passthrough"])).unwrap()));
    for needle in [
        "Ids: passthrough",
        "IS host uid 0",
        "sysctl files in /proc/sys",
        "sysfs attributes",
        "device nodes",
        "keyrings",
        "RLIMIT_NPROC",
        "signals and ptrace from the host",
        "mounts locked",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let text = flat(&explain(
        &load(
            None,
            &sets(&["ids={mode: passthrough, root: remap, remap_uid: 3000000000}"]),
        )
        .unwrap(),
    ));
    assert!(text.contains("Ids: passthrough, root remapped"), "{text}");
    assert!(text.contains("is the dedicated host uid and gid 3000000000"), "{text}");
    assert!(text.contains("uid 0 on disk"), "{text}");
    let text = explain(&Policy::builtin());
    assert!(text.contains("Ids: isolated") && text.contains("65536"), "{text}");
    let text = explain(&load(None, &sets(&["ids.mode=shifted"])).unwrap());
    assert!(text.contains("jail-rootfs shift"), "{text}");
    let text = flat(&explain(
        &load(
            None,
            &sets(&["ids={mode: custom, map: [\"0:0:1\", \"1:100000:65535\"]}"]),
        )
        .unwrap(),
    ));
    assert!(
        text.contains("uids 0:0:1, 1:100000:65535") && text.contains("Warning"),
        "{text}"
    );
}

#[test]
fn explain_lists_capabilities_allowances_and_volumes() {
    let policy = load(
        None,
        &sets(&[
            "allow.mount=true",
            "landlock.mode=best_effort",
            "landlock.readonly=[/usr]",
            "ids.mode=passthrough",
            "mounts=[{source: /srv, target: /mnt, map: [\"0:1000:1\"], nodev: false}]",
        ]),
    )
    .unwrap();
    let text = flat(&explain(&policy));
    for needle in [
        "added by allowances: SYS_ADMIN (allow.set_hostname)",
        "removed: SYS_CHROOT",
        "mount on the mount family reaches the kernel",
        "seccomp cannot read the fstype string",
        "/proc/kcore (mandatory)",
        "/srv on /mnt (read-write, nosuid)",
        "the jail's root writes as host uid 1000",
        "Warning: without nodev",
        "the file-system rules are skipped",
        "- read-only (read and execute, never write) (skipped: allow.mount is on): /usr",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let policy = load(None, &sets(&["proc.masked=[/proc/cpuinfo]", "user=1000"])).unwrap();
    let text = flat(&explain(&policy));
    assert!(
        text.contains("/proc/kallsyms (mandatory) and /proc/cpuinfo -"),
        "{text}"
    );
    assert!(text.contains("runs as `1000`, a non-root user"), "{text}");
}

#[test]
fn schema_file_is_current() {
    let path = policies_dir().join("schema.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = format!("{}\n", schema_json());
    if committed != generated && std::env::var_os("JAILD_UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    assert!(
        committed == generated,
        "policies/schema.json is out of date: run `jailctl policy schema > policies/schema.json` (or this test \
         with JAILD_UPDATE_SCHEMA=1)"
    );
}

#[test]
fn schema_describes_every_top_level_key() {
    let schema = schema();
    let properties = schema.get("properties").and_then(|p| p.as_object()).unwrap();
    // Every key of the reference file is in the schema, and nothing else.
    let default: serde_json::Value = {
        let layer: BTreeMap<String, serde::de::IgnoredAny> = layer::from_yaml(shipped("default").unwrap()).unwrap();
        serde_json::Value::Array(layer.keys().map(|k| serde_json::Value::String(k.clone())).collect())
    };
    let mut keys: Vec<&str> = properties.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected: Vec<&str> = default.as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    expected.push("extends");
    expected.sort_unstable();
    assert_eq!(keys, expected);
    assert_eq!(
        schema.get("additionalProperties"),
        Some(&serde_json::Value::Bool(false))
    );
    assert_eq!(schema.get("required"), Some(&serde_json::json!(["version"])));
    for (key, value) in properties {
        assert!(value.get("description").is_some(), "{key} has no description");
    }
    // Nested structs are strict too, and the tables feed the enums.
    let defs = schema.get("$defs").and_then(|d| d.as_object()).unwrap();
    for name in [
        "Allow",
        "Landlock",
        "Volume",
        "Ids",
        "Capabilities",
        "Rootfs",
        "Proc",
        "Sys",
        "Seccomp",
    ] {
        let def = defs.get(name).unwrap_or_else(|| panic!("no $defs/{name}"));
        assert_eq!(
            def.get("additionalProperties"),
            Some(&serde_json::Value::Bool(false)),
            "{name}"
        );
    }
    assert_eq!(defs["Volume"]["required"], serde_json::json!(["source", "target"]));
    let text = schema_json();
    for family in [
        "\"vsock\"",
        "\"xdp\"",
        "\"overlay\"",
        "\"abstract_unix_socket\"",
        "\"best_effort\"",
        "\"shifted\"",
    ] {
        assert!(text.contains(family), "{family}");
    }
}
