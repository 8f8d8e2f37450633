//! The payload's user: `root`, `UID`, `UID:GID`, or a name looked up in the
//! jail's own `/etc/passwd` (read after the pivot, refusing anything but a
//! small regular file so a FIFO or device cannot stall the spawn).

use std::io::{self, Read};

/// A resolved user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub home: String,
}

fn read_small_file(path: &str) -> io::Result<String> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = f.metadata()?;
    let ft = meta.file_type();
    if !ft.is_file() || ft.is_fifo() || meta.len() > 4 << 20 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path}: not a small regular file"),
        ));
    }
    let mut s = String::new();
    f.take(4 << 20).read_to_string(&mut s)?;
    Ok(s)
}

/// Resolve `spec` inside the jail (after the pivot).
pub fn resolve(spec: &str) -> io::Result<User> {
    let not_found = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("user {spec}: not in the jail's /etc/passwd"),
        )
    };
    let passwd = read_small_file("/etc/passwd").unwrap_or_default();
    let entry = |pred: &dyn Fn(&[&str]) -> bool| -> Option<(u32, u32, String, String)> {
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 || !pred(&f) {
                return None;
            }
            Some((
                f[2].parse().ok()?,
                f[3].parse().ok()?,
                f[5].to_string(),
                f[0].to_string(),
            ))
        })
    };
    let (uid, gid, home, name) = if spec == "root" {
        (0, 0, "/root".to_string(), "root".to_string())
    } else if let Some((u, g)) = spec.split_once(':') {
        let uid: u32 = u.parse().map_err(|_| not_found())?;
        let gid: u32 = g.parse().map_err(|_| not_found())?;
        let found = entry(&|f| f[2] == u);
        let (home, name) = found.map(|e| (e.2, e.3)).unwrap_or_else(|| ("/".into(), String::new()));
        (uid, gid, home, name)
    } else if let Ok(uid) = spec.parse::<u32>() {
        match entry(&|f| f[2] == spec) {
            Some(e) => (uid, e.1, e.2, e.3),
            None => (uid, uid, "/".into(), String::new()),
        }
    } else {
        entry(&|f| f[0] == spec).ok_or_else(not_found)?
    };
    let mut groups = vec![gid];
    if !name.is_empty() {
        let group = read_small_file("/etc/group").unwrap_or_default();
        for l in group.lines() {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() >= 4
                && f[3].split(',').any(|m| m == name)
                && let Ok(g) = f[2].parse::<u32>()
                && !groups.contains(&g)
            {
                groups.push(g);
            }
        }
    }
    Ok(User { uid, gid, groups, home })
}
