//! jail-init: the fresh, single-threaded helper that runs one jail from a
//! serialised plan (DESIGN §3). The threaded daemon never forks to set up a
//! jail itself; it execs this helper with the plan on a descriptor.
//!
//! Usage: `jail-init --plan-fd N` or `jail-init --plan FILE`. The plan is
//! the JSON form of `libjail::plan::Plan`. Exit status: the payload's own,
//! 125 for a setup error, 126/127 when the command cannot be executed or
//! found.

use std::io::Read;

fn read_plan(args: &[String]) -> Result<libjail::plan::Plan, String> {
    let text = match args {
        [flag, fd] if flag == "--plan-fd" => {
            let fd: i32 = fd
                .parse()
                .map_err(|_| format!("--plan-fd {fd}: not a descriptor number"))?;
            if fd < 3 {
                return Err(format!("--plan-fd {fd}: stdio is the jail's"));
            }
            let owned = libjail::sys::take_fd(fd).ok_or_else(|| format!("--plan-fd {fd}: not open"))?;
            let mut s = String::new();
            std::fs::File::from(owned)
                .read_to_string(&mut s)
                .map_err(|e| format!("read plan from fd {fd}: {e}"))?;
            s
        }
        [flag, file] if flag == "--plan" => {
            std::fs::read_to_string(file).map_err(|e| format!("read plan {file}: {e}"))?
        }
        _ => return Err("usage: jail-init --plan-fd N | --plan FILE".to_string()),
    };
    serde_json::from_str(&text).map_err(|e| format!("parse plan: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match read_plan(&args) {
        Ok(plan) => match libjail::spawn::run(&plan) {
            Ok(code) => code,
            Err(e) => {
                eprintln!("jail-init: {e}");
                e.exit_code()
            }
        },
        Err(e) => {
            eprintln!("jail-init: {e}");
            125
        }
    };
    #[allow(clippy::exit)]
    std::process::exit(code);
}
