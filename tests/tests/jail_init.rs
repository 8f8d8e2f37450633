//! The `jail-init` helper (crate `jaild`): the daemon serialises a `libjail::plan::Plan` the way
//! these tests do and hands it over as a file (`--plan FILE`) or a descriptor (`--plan-fd N`).
//! Exit status: the payload's own, 125 for a bad plan or a setup error.

mod common;

use std::fs;
use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{
    TIMEOUT, TestJail, describe, jail_init_path, output_with_timeout, require_root, stderr_text, stdout_text,
    wait_output,
};
use libjail::plan::{Console, Plan};

const SCRIPT: &str = "hostname; echo $$; exit 3";

/// The plan for `argv` in `jail`'s rootfs, built as the daemon builds it: the default policy with
/// `--set` style overrides, a passthrough jail or an isolated one at the test's pool range.
fn plan_json(jail: &TestJail, sets: &[&str], argv: &[&str]) -> String {
    let sets: Vec<String> = sets.iter().map(|s| (*s).to_owned()).collect();
    let policy = libjail::policy::load(None, &sets).expect("load the default policy");
    let id_base = (policy.ids.mode == libjail::policy::IdMode::Isolated).then_some(jail.pool_start);
    let argv = argv.iter().map(|s| (*s).to_owned()).collect();
    let plan = Plan::new("t", jail.root.clone(), argv, policy, id_base, Console::Inherit).expect("build the plan");
    serde_json::to_string(&plan).expect("serialise the plan")
}

fn passthrough_plan(jail: &TestJail, argv: &[&str]) -> String {
    plan_json(jail, &["ids.mode=passthrough"], argv)
}

/// `jail-init ARGS` with the test's TMPDIR and stdin from /dev/null.
fn jail_init(jail: &TestJail, args: &[&str]) -> Command {
    let mut cmd = Command::new(jail_init_path());
    cmd.args(args).env("TMPDIR", &jail.tmp).stdin(Stdio::null());
    cmd
}

/// Runs `jail-init --plan-fd 3` with `plan` written into a pipe that the helper gets as fd 3 (and
/// a host directory, `/`, as fd 4: it must not reach the jail). The shell does the descriptor
/// plumbing, so no `pre_exec` is needed.
fn run_plan_fd(jail: &TestJail, plan: &str) -> Output {
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg("exec \"$0\" --plan-fd 3 3<&0 4</ </dev/null")
        .arg(jail_init_path())
        .env("TMPDIR", &jail.tmp)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn jail-init through sh");
    let mut stdin = child.stdin.take().expect("stdin piped");
    stdin.write_all(plan.as_bytes()).expect("write the plan into the pipe");
    drop(stdin);
    let out = wait_output(child, TIMEOUT);
    println!("$ jail-init --plan-fd 3\n{}", describe(&out));
    out
}

#[test]
fn plan_file_runs_the_payload() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = jail.base.join("plan.json");
    fs::write(&file, passthrough_plan(&jail, &["/bin/sh", "-c", SCRIPT])).expect("write the plan");
    let out = output_with_timeout(
        jail_init(&jail, &["--plan", file.to_str().expect("utf-8 path")]),
        TIMEOUT,
    );
    println!("{}", describe(&out));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    // The hostname defaults to the plan's name; the payload is pid 1.
    assert_eq!(stdout_text(&out), "t\n1\n", "{}", describe(&out));
}

#[test]
fn plan_fd_runs_the_payload() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = run_plan_fd(&jail, &passthrough_plan(&jail, &["/bin/sh", "-c", SCRIPT]));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert_eq!(stdout_text(&out), "t\n1\n", "{}", describe(&out));
}

/// An isolated plan: the helper writes the map it is given (the caller holds the lease).
#[test]
fn plan_fd_isolated() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let plan = plan_json(&jail, &[], &["/bin/sh", "-c", "cat /proc/self/uid_map; exit 3"]);
    let out = run_plan_fd(&jail, &plan);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let map: Vec<String> = stdout_text(&out).split_whitespace().map(str::to_owned).collect();
    assert_eq!(map, ["0", &jail.pool_start.to_string(), "65536"], "{}", describe(&out));
}

/// Neither the plan's descriptor nor another one the helper inherited reaches the payload.
#[test]
fn plan_fd_leaks_no_descriptor() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = run_plan_fd(&jail, &passthrough_plan(&jail, &[common::PROBE, "fds"]));
    common::assert_all_blocked(&out, "jail-probe fds under jail-init --plan-fd 3 (fd 4 = host /)");
}

/// Refused with 125 and one line on stderr that contains every needle.
fn refused(jail: &TestJail, cmd: Command, needles: &[&str]) {
    let out = output_with_timeout(cmd, TIMEOUT);
    println!("{}", describe(&out));
    assert_eq!(out.status.code(), Some(125), "{}", describe(&out));
    let err = stderr_text(&out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error\n{}", describe(&out));
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "the error should mention {needle:?}\n{}",
            describe(&out)
        );
    }
    assert!(out.stdout.is_empty(), "no payload may run\n{}", describe(&out));
    assert!(common::mounts_under(&jail.base).is_empty(), "mounts left on the host");
}

#[test]
fn plan_fd_stdio_is_refused() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    for fd in ["0", "1", "2"] {
        refused(&jail, jail_init(&jail, &["--plan-fd", fd]), &["--plan-fd", "stdio"]);
    }
}

#[test]
fn plan_fd_not_open_is_refused() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    refused(&jail, jail_init(&jail, &["--plan-fd", "97"]), &["97", "not open"]);
    refused(&jail, jail_init(&jail, &["--plan-fd", "x"]), &["not a descriptor"]);
}

#[test]
fn missing_plan_file_is_refused() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = jail.base.join("no-such-plan.json");
    let path = file.to_str().expect("utf-8 path");
    refused(&jail, jail_init(&jail, &["--plan", path]), &[path]);
}

#[test]
fn bad_plans_are_refused() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let file = jail.base.join("plan.json");
    let path = file.to_str().expect("utf-8 path");
    fs::write(&file, "{\"name\": \"t\"").expect("write");
    refused(&jail, jail_init(&jail, &["--plan", path]), &["parse plan"]);
    // Well-formed JSON, but not a plan.
    fs::write(&file, "{\"name\": \"t\"}").expect("write");
    refused(&jail, jail_init(&jail, &["--plan", path]), &["parse plan"]);
    // A plan whose rootfs has a symlink in its path: refused when the helper opens it.
    let link = jail.base.join("link");
    std::os::unix::fs::symlink(&jail.root, &link).expect("symlink");
    let mut plan: serde_json::Value =
        serde_json::from_str(&passthrough_plan(&jail, &["/bin/true"])).expect("plan JSON");
    plan["rootfs"] = serde_json::Value::from(link.to_str().expect("utf-8 path"));
    fs::write(&file, plan.to_string()).expect("write");
    refused(&jail, jail_init(&jail, &["--plan", path]), &[]);
    refused(&jail, jail_init(&jail, &[]), &["usage"]);
    refused(&jail, jail_init(&jail, &["--plan"]), &["usage"]);
}
