//! The address pool of `address: auto` (and the register of static
//! addresses inside it): one file per leased address in a directory, named
//! after the address and holding the jail's name. A lease is made by
//! writing a temp file and hard-linking it to the address's name, which
//! fails if the name exists: atomic, lock-free, and never half-written.
//! Leases persist across restarts until [`AddressPool::release`].

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::NetError;
use super::addr::IpNet;

/// How many addresses [`AddressPool::lease`] tries in a large (IPv6) pool.
const MAX_TRIES: u128 = 65_536;

/// A pool of jail addresses: `cidr` (its first address is the gateway,
/// the bridge's address), leases in `dir`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    /// The subnet, as its network address and prefix (`10.88.0.0/16`).
    pub cidr: IpNet,
    /// Where the lease files live.
    pub dir: PathBuf,
}

impl AddressPool {
    /// The default lease directory.
    pub const DEFAULT_DIR: &'static str = "/var/lib/jaild/addresses";

    /// A pool over `cidr` (host bits are dropped) with leases in `dir`. It
    /// needs room for a gateway and at least one jail: at most /30 for IPv4,
    /// /126 for IPv6.
    pub fn new(cidr: IpNet, dir: impl Into<PathBuf>) -> Result<AddressPool, NetError> {
        let cidr = cidr.with_addr(cidr.network());
        let longest = if cidr.is_ipv4() { 30 } else { 126 };
        if cidr.prefix > longest {
            return Err(NetError::Pool(format!(
                "pool {cidr} is too small: it needs a gateway and at least one jail (at most /{longest})"
            )));
        }
        Ok(AddressPool { cidr, dir: dir.into() })
    }

    /// The gateway: the pool's first host address (`10.88.0.1`).
    pub fn gateway(&self) -> IpAddr {
        // `new` guarantees room for it.
        self.cidr.nth(1).unwrap_or(self.cidr.addr)
    }

    /// The gateway with the pool's prefix, as the bridge carries it.
    pub fn gateway_net(&self) -> IpNet {
        self.cidr.with_addr(self.gateway())
    }

    /// Whether `addr` may be given to a jail: in the pool, and not its
    /// network, gateway or (IPv4) broadcast address.
    fn assignable(&self, addr: IpAddr) -> bool {
        self.cidr.contains(addr)
            && addr != self.cidr.network()
            && addr != self.gateway()
            && !(self.cidr.is_ipv4() && addr == self.cidr.last())
    }

    /// The lease of `jail`, leasing the first free address if it has none
    /// yet (so a restarted daemon gets the same one back).
    pub fn lease(&self, jail: &str) -> Result<IpNet, NetError> {
        check_jail(jail)?;
        if let Some(addr) = self.held_by(jail)?.into_iter().next() {
            return Ok(self.cidr.with_addr(addr));
        }
        self.make_dir()?;
        let tries = self.cidr.size().min(MAX_TRIES);
        for n in 2..tries {
            let Some(addr) = self.cidr.nth(n) else { break };
            if !self.assignable(addr) {
                continue;
            }
            if self.claim(jail, addr)? {
                return Ok(self.cidr.with_addr(addr));
            }
        }
        Err(NetError::Pool(format!(
            "pool {} has no free address left ({} leases in {})",
            self.cidr,
            self.leases()?.len(),
            self.dir.display()
        )))
    }

    /// Registers static address `net` for `jail`: it must lie in the pool
    /// (an address outside it is refused) and be nobody else's.
    pub fn reserve(&self, jail: &str, net: IpNet) -> Result<(), NetError> {
        check_jail(jail)?;
        if !self.cidr.contains(net.addr) {
            return Err(NetError::Pool(format!(
                "address {net} is outside the pool {} (jaild's address pool; give an address in it, or `auto`)",
                self.cidr
            )));
        }
        if !self.assignable(net.addr) {
            return Err(NetError::Pool(format!(
                "address {} is the pool's network, gateway or broadcast address",
                net.addr
            )));
        }
        self.make_dir()?;
        if self.claim(jail, net.addr)? {
            return Ok(());
        }
        match self.owner(net.addr)? {
            Some(owner) if owner == jail => Ok(()),
            Some(owner) => Err(NetError::Pool(format!(
                "address {} is already taken by jail {owner}",
                net.addr
            ))),
            // Released between our attempt and the look: try once more.
            None if self.claim(jail, net.addr)? => Ok(()),
            None => Err(NetError::Pool(format!(
                "address {} is being taken by another jail",
                net.addr
            ))),
        }
    }

    /// Frees every address `jail` holds; returns them.
    pub fn release(&self, jail: &str) -> Result<Vec<IpAddr>, NetError> {
        let held = self.held_by(jail)?;
        for addr in &held {
            let path = self.dir.join(addr.to_string());
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(NetError::io(format!("remove lease {}", path.display()), e)),
            }
        }
        Ok(held)
    }

    /// Every lease: `(address, jail)`, sorted by address.
    pub fn leases(&self) -> Result<Vec<(IpAddr, String)>, NetError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(NetError::io(
                    format!("read the pool directory {}", self.dir.display()),
                    e,
                ));
            }
        };
        let mut leases = Vec::new();
        for entry in entries.flatten() {
            let Some(addr) = entry.file_name().to_str().and_then(|n| n.parse::<IpAddr>().ok()) else {
                continue;
            };
            if let Some(owner) = self.owner(addr)? {
                leases.push((addr, owner));
            }
        }
        leases.sort();
        Ok(leases)
    }

    /// The addresses `jail` holds.
    pub fn held_by(&self, jail: &str) -> Result<Vec<IpAddr>, NetError> {
        Ok(self
            .leases()?
            .into_iter()
            .filter(|(_, owner)| owner == jail)
            .map(|(a, _)| a)
            .collect())
    }

    /// Who holds `addr`, if anyone.
    fn owner(&self, addr: IpAddr) -> Result<Option<String>, NetError> {
        let path = self.dir.join(addr.to_string());
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(NetError::io(format!("read lease {}", path.display()), e)),
        }
    }

    fn make_dir(&self) -> Result<(), NetError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| NetError::io(format!("create the pool directory {}", self.dir.display()), e))
    }

    /// Takes `addr` for `jail`: `false` when someone holds it.
    fn claim(&self, jail: &str, addr: IpAddr) -> Result<bool, NetError> {
        let tmp = self.dir.join(format!(".{jail}.{}.tmp", std::process::id()));
        let target = self.dir.join(addr.to_string());
        let written = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| f.write_all(format!("{jail}\n").as_bytes()).and_then(|()| f.sync_all()));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(NetError::io(format!("write lease {}", tmp.display()), e));
        }
        let linked = fs::hard_link(&tmp, &target);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(NetError::io(format!("create lease {}", target.display()), e)),
        }
    }
}

/// A jail name that is safe in a file and on one line.
fn check_jail(jail: &str) -> Result<(), NetError> {
    let ok = !jail.is_empty()
        && jail.len() <= 64
        && jail
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !jail.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(NetError::Invalid(format!("bad jail name `{}`", jail.escape_debug())))
    }
}
