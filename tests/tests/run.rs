//! `jailctl run` basics (issue 2, "What it must show" 1): hostname and pid 1, exit statuses,
//! 126/127 with clear messages; and `--init`, the built-in reaper.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use common::{
    TestJail, describe, host_hostname, jail_processes, require_root, stderr_text, stdout_lines, stdout_text,
    wait_output, wait_timeout,
};

#[test]
fn hostname_and_pid_1() {
    if !require_root() {
        return;
    }
    let before = host_hostname();
    let jail = TestJail::new();
    let out = jail.run(&["--hostname", "j1"], &["/bin/sh", "-c", "hostname; echo $$"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_eq!(stdout_text(&out), "j1\n1\n", "{}", describe(&out));
    assert_eq!(host_hostname(), before, "the host's hostname changed");
}

#[test]
fn exit_status_propagates() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.run(&[], &["/bin/sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{}", describe(&out));
}

/// One line on stderr, naming `needle`.
fn assert_one_line_naming(out: &std::process::Output, needle: &str) {
    let err = stderr_text(out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected a one-line error\n{}", describe(out));
    assert!(
        lines[0].contains(needle),
        "the error should name {needle}\n{}",
        describe(out)
    );
}

#[test]
fn missing_program_is_127() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.run(&[], &["/bin/no-such-program"]);
    assert_eq!(out.status.code(), Some(127), "{}", describe(&out));
    assert_one_line_naming(&out, "/bin/no-such-program");
}

#[test]
fn missing_program_on_path_is_127() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.run(&[], &["no-such-program"]);
    assert_eq!(out.status.code(), Some(127), "{}", describe(&out));
    assert_one_line_naming(&out, "no-such-program");
}

#[test]
fn non_executable_file_is_126() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let path = jail.root.join("bin/not-executable");
    fs::write(&path, "#!/bin/sh\necho should not run\n").expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let out = jail.run(&[], &["/bin/not-executable"]);
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert_one_line_naming(&out, "/bin/not-executable");
}

#[test]
fn directory_as_program_is_126() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.run(&[], &["/etc"]);
    assert_eq!(out.status.code(), Some(126), "{}", describe(&out));
    assert_one_line_naming(&out, "/etc");
}

#[test]
fn init_reaper_is_pid_1() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.run(&["--init"], &["/bin/sh", "-c", "echo $$ $PPID; sleep 0.2 & wait"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout_text(&out);
    let ids: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(ids.len(), 2, "{}", describe(&out));
    assert_ne!(
        ids[0],
        "1",
        "with --init the shell must not be pid 1\n{}",
        describe(&out)
    );
    assert_eq!(
        ids[1],
        "1",
        "the shell's parent must be the reaper at pid 1\n{}",
        describe(&out)
    );
}

#[test]
fn init_propagates_exit_status() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let out = jail.run(&["--init"], &["/bin/sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
}

/// An orphan re-parented to the reaper is reaped: no zombie remains. The script waits for the
/// orphan's /proc entry to go (a zombie keeps it) instead of sleeping for a guessed time; if it
/// never goes, the listing after 5 s shows the zombie.
#[test]
fn init_reaps_orphans() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let script = "p=$(sh -c 'sleep 0.05 >/dev/null 2>&1 & echo $!'); i=0; \
                  while [ -e /proc/$p ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done; \
                  for s in /proc/[0-9]*/stat; do read l < $s && echo \"$l\"; done";
    let out = jail.run(&["--init"], &["/bin/sh", "-c", script]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let text = stdout_text(&out);
    let zombies: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .collect();
    assert!(zombies.is_empty(), "zombies left: {zombies:#?}\n{}", describe(&out));
}

/// SIGTERM to jailctl reaches the jail through the reaper: the jail ends, promptly.
#[test]
fn init_forwards_sigterm() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let mut child = jail.spawn(&["--init"], &["/bin/sh", "-c", "echo ready; exec sleep 30"]);
    let lines = stdout_lines(&mut child);
    let ready = lines.recv_timeout(Duration::from_secs(30));
    assert_eq!(ready.as_deref(), Ok("ready"), "the jail did not start");
    let inside = jail_processes(child.id());
    assert!(
        !inside.is_empty(),
        "no jail process found below jailctl ({})",
        child.id()
    );
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    let sent = Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill -TERM jailctl");
    let status = wait_timeout(&mut child, Duration::from_secs(10));
    let took = sent.elapsed();
    let out = wait_output(child, Duration::from_secs(5));
    assert!(
        status.is_some(),
        "jailctl still running 10 s after SIGTERM\n{}",
        describe(&out)
    );
    assert!(took < Duration::from_secs(5), "the jail took {took:?} to end");
    assert!(
        out.status.code() == Some(128 + 15) || out.status.signal() == Some(15),
        "the payload died of SIGTERM: expected exit 143 (or jailctl itself ended by SIGTERM)\n{}",
        describe(&out)
    );
    // Nothing of the jail survives.
    let deadline = Instant::now() + Duration::from_secs(2);
    let alive = loop {
        let alive: Vec<u32> = inside
            .iter()
            .copied()
            .filter(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
            .collect();
        if alive.is_empty() || Instant::now() > deadline {
            break alive;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(alive.is_empty(), "jail processes still alive: {alive:?}");
}

/// stdin passes through to the payload.
#[test]
fn stdin_passes_through() {
    if !require_root() {
        return;
    }
    let jail = TestJail::new();
    let mut child = jail.spawn(&[], &["/bin/sh", "-c", "read x; echo got $x"]);
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello\n")
        .expect("write stdin");
    let out = wait_output(child, common::TIMEOUT);
    assert_eq!(stdout_text(&out), "got hello\n", "{}", describe(&out));
}
