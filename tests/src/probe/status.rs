//! `status`: the process's confinement as seen from inside, as one JSON object.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;

use serde_json::{Value, json};

use crate::report::errno;
use crate::sys;

/// Lines of `/proc/self/status` as key → value.
fn proc_status() -> BTreeMap<String, String> {
    let text = fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// The `n`-th whitespace-separated number of a status field (`Uid:` has real, effective, saved, fs).
fn nth_id(status: &BTreeMap<String, String>, key: &str, n: usize) -> Value {
    status
        .get(key)
        .and_then(|v| v.split_whitespace().nth(n))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Value::Null, Value::from)
}

fn number_or_error(r: std::io::Result<i64>) -> Value {
    match r {
        Ok(v) => Value::from(v),
        Err(e) => Value::from(format!("error: {}", errno(&e))),
    }
}

/// Open descriptors with their targets. The directory fd used for the listing is closed before the
/// targets are read, so its readlink fails and it drops out.
pub fn open_fds() -> Vec<(i32, String)> {
    let names: Vec<i32> = match fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect(),
        Err(_) => return Vec::new(),
    };
    let mut fds: Vec<(i32, String)> = names
        .into_iter()
        .filter_map(|fd| {
            let target = fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect();
    fds.sort();
    fds
}

pub fn run() -> i32 {
    let st = proc_status();
    let field = |k: &str| st.get(k).cloned().map_or(Value::Null, Value::from);
    let groups: Vec<u64> = st
        .get("Groups")
        .map(|g| g.split_whitespace().filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default();
    let fds: Vec<Value> = open_fds()
        .into_iter()
        .map(|(fd, target)| json!({ "fd": fd, "target": target }))
        .collect();
    let root = fs::metadata("/").map_or(Value::Null, |m| json!({"dev": m.dev(), "ino": m.ino()}));
    let out = json!({
        "uid": nth_id(&st, "Uid", 0),
        "euid": nth_id(&st, "Uid", 1),
        "suid": nth_id(&st, "Uid", 2),
        "gid": nth_id(&st, "Gid", 0),
        "egid": nth_id(&st, "Gid", 1),
        "groups": groups,
        "pid": std::process::id(),
        "ppid": std::os::unix::process::parent_id(),
        "hostname": sys::gethostname().map_or(Value::Null, Value::from),
        "CapInh": field("CapInh"),
        "CapPrm": field("CapPrm"),
        "CapEff": field("CapEff"),
        "CapBnd": field("CapBnd"),
        "CapAmb": field("CapAmb"),
        "NoNewPrivs": nth_id(&st, "NoNewPrivs", 0),
        "Seccomp": nth_id(&st, "Seccomp", 0),
        "Seccomp_filters": nth_id(&st, "Seccomp_filters", 0),
        "securebits": number_or_error(sys::securebits()),
        "dumpable": number_or_error(sys::dumpable()),
        "sid": number_or_error(sys::getsid()),
        "pgid": number_or_error(sys::getpgid()),
        "fds": fds,
        "cwd": std::env::current_dir().map_or(Value::Null, |p| Value::from(p.to_string_lossy())),
        "root": root,
    });
    println!("{out}");
    0
}
