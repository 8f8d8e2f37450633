//! Bad input (issue 2, "What it must show" 4): each refused with exit 125 and a clear one-line
//! error, and nothing left behind — no mount on the host, no new file in the test's directory
//! (jailctl's TMPDIR included).

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::{TIMEOUT, TestJail, describe, mounts_under, output_with_timeout, require_root, stderr_text};

/// Runs `jailctl run --root ROOT ARGS -- /bin/true` and checks the refusal; returns the error line.
fn refused(jail: &TestJail, root: &Path, args: &[&str], needles: &[&str]) -> String {
    let before = jail.snapshot();
    let out = output_with_timeout(jail.run_cmd_root(root, args, &["/bin/true"]), TIMEOUT);
    println!("{}", describe(&out));
    assert_eq!(out.status.code(), Some(125), "expected exit 125\n{}", describe(&out));
    let line = one_line(&out);
    for needle in needles {
        assert!(
            line.contains(needle),
            "the error should mention {needle:?}\n{}",
            describe(&out)
        );
    }
    assert_nothing_left(jail, &before);
    line
}

fn one_line(out: &Output) -> String {
    let err = stderr_text(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error\n{}", describe(out));
    lines[0].to_owned()
}

fn assert_nothing_left(jail: &TestJail, before: &std::collections::BTreeSet<std::path::PathBuf>) {
    let after = jail.snapshot();
    let new: Vec<_> = after.difference(before).collect();
    assert!(new.is_empty(), "left behind: {new:?}");
    let mounts = mounts_under(&jail.base);
    assert!(mounts.is_empty(), "mounts left on the host: {mounts:?}");
}

#[test]
fn missing_root() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let root = jail.base.join("no-such-root");
    refused(&jail, &root, &[], &[root.to_str().expect("utf-8")]);
}

#[test]
fn root_is_a_file() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let root = jail.base.join("a-file");
    fs::write(&root, "not a directory\n").expect("write");
    refused(&jail, &root, &[], &[root.to_str().expect("utf-8"), "not a directory"]);
}

#[test]
fn root_path_through_a_symlink() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let link = jail.base.join("via-link");
    std::os::unix::fs::symlink(&jail.base, &link).expect("symlink");
    let root = link.join("rootfs");
    refused(&jail, &root, &[], &["symlink"]);
}

#[test]
fn root_that_is_a_symlink() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let link = jail.base.join("rootfs-link");
    std::os::unix::fs::symlink(&jail.root, &link).expect("symlink");
    refused(&jail, &link, &[], &["symlink"]);
}

/// Every ancestor of the rootfs open to other users (/tmp 1777, the temp dir 0755): refused, with
/// the fix in the message.
#[test]
fn root_reachable_by_non_root_users() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    fs::set_permissions(&jail.base, fs::Permissions::from_mode(0o755)).expect("chmod 755");
    let line = refused(&jail, &jail.root, &[], &["chmod"]);
    fs::set_permissions(&jail.base, fs::Permissions::from_mode(0o700)).expect("chmod 700");
    println!("{line}");
}

#[test]
fn overlapping_id_maps() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let args = [
        "--set",
        "ids.mode=custom",
        "--set",
        r#"ids.map=["0:100000:65536","10:100005:5"]"#,
    ];
    refused(&jail, &jail.root, &args, &["overlap"]);
}

#[test]
fn id_map_past_the_last_id() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let args = ["--set", "ids.mode=custom", "--set", r#"ids.map=["0:4294967290:10"]"#];
    refused(&jail, &jail.root, &args, &["4294967290"]);
}

#[test]
fn unknown_capability() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    refused(
        &jail,
        &jail.root,
        &["--set", "capabilities.allow=[SYS_ADMINN]"],
        &["SYS_ADMINN"],
    );
}

/// A policy file that extends itself.
fn self_extending(jail: &TestJail) -> std::path::PathBuf {
    let file = jail.base.join("self.yaml");
    fs::write(&file, "version: 1\ndescription: extends itself\nextends: self.yaml\n").expect("write");
    file
}

/// A policy file with a YAML syntax error on line 4 (an unclosed flow sequence).
fn malformed(jail: &TestJail) -> std::path::PathBuf {
    let file = jail.base.join("malformed.yaml");
    fs::write(
        &file,
        "version: 1\ndescription: broken\ncapabilities:\n  allow: [CHOWN, KILL\nhostname: j1\n",
    )
    .expect("write");
    file
}

/// A policy file with an unknown key on line 3, column 1.
fn unknown_key(jail: &TestJail) -> std::path::PathBuf {
    let file = jail.base.join("unknown-key.yaml");
    fs::write(&file, "version: 1\ndescription: typo\nhostnme: j1\n").expect("write");
    file
}

/// `FILE:LINE:COLUMN` somewhere in `line`.
fn assert_file_line_column(line: &str, file: &Path, expect_line: Option<u32>) {
    let name = file.to_str().expect("utf-8");
    let at = line
        .find(&format!("{name}:"))
        .unwrap_or_else(|| panic!("the error should name {name}: {line}"));
    let rest = &line[at + name.len() + 1..];
    let mut parts = rest.splitn(3, ':');
    let l: Option<u32> = parts.next().and_then(|s| s.parse().ok());
    let c: Option<u32> = parts.next().and_then(|s| s.parse().ok());
    assert!(l.is_some() && c.is_some(), "expected {name}:LINE:COLUMN in: {line}");
    if let Some(expect) = expect_line {
        assert_eq!(l, Some(expect), "wrong line in: {line}");
    }
}

#[test]
fn policy_extending_itself() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = self_extending(&jail);
    let file_arg = file.to_str().expect("utf-8");
    refused(&jail, &jail.root, &["--policy", file_arg], &["self.yaml", "cycle"]);
}

#[test]
fn malformed_policy() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = malformed(&jail);
    let before = jail.snapshot();
    let out = output_with_timeout(
        jail.run_cmd(&["--policy", file.to_str().expect("utf-8")], &["/bin/true"]),
        TIMEOUT,
    );
    println!("{}", describe(&out));
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    assert_file_line_column(&one_line(&out), &file, None);
    assert_nothing_left(&jail, &before);
}

#[test]
fn policy_with_unknown_key() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = unknown_key(&jail);
    let line = refused(
        &jail,
        &jail.root,
        &["--policy", file.to_str().expect("utf-8")],
        &["hostnme"],
    );
    assert_file_line_column(&line, &file, Some(3));
}

/// `jailctl policy validate FILE`: the same errors, without running anything.
fn validate(jail: &TestJail, file: &Path) -> Output {
    let mut cmd = jail.jailctl();
    cmd.args(["policy", "validate"]).arg(file);
    let out = output_with_timeout(cmd, TIMEOUT);
    println!("{}", describe(&out));
    out
}

#[test]
fn validate_accepts_the_shipped_default() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/default.yaml");
    let out = validate(&jail, &file);
    assert!(out.status.success(), "{}", describe(&out));
}

#[test]
fn validate_refuses_self_extension() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = self_extending(&jail);
    let out = validate(&jail, &file);
    assert!(!out.status.success(), "{}", describe(&out));
    let line = one_line(&out);
    assert!(line.contains("self.yaml") && line.contains("cycle"), "{line}");
}

#[test]
fn validate_refuses_malformed_yaml() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = malformed(&jail);
    let out = validate(&jail, &file);
    assert!(!out.status.success(), "{}", describe(&out));
    assert_file_line_column(&one_line(&out), &file, None);
}

#[test]
fn validate_refuses_unknown_key() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = unknown_key(&jail);
    let out = validate(&jail, &file);
    assert!(!out.status.success(), "{}", describe(&out));
    let line = one_line(&out);
    assert!(line.contains("hostnme"), "{line}");
    assert_file_line_column(&line, &file, Some(3));
}
