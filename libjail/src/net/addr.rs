//! Addresses as policies and the address pool write them: [`IpNet`] (an
//! address with its prefix length, `10.0.0.2/24`) and MAC addresses.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An interface address with its prefix length: `10.0.0.2/24`,
/// `fd00::2/64`. The address keeps its host bits (it is the interface's
/// address, not only the network).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpNet {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix: u8,
}

impl IpNet {
    /// `addr/prefix`, checked.
    pub fn new(addr: IpAddr, prefix: u8) -> Result<IpNet, String> {
        if prefix > max_prefix(addr) {
            return Err(format!("prefix /{prefix} is too long for {addr}"));
        }
        Ok(IpNet { addr, prefix })
    }

    /// Whether this is an IPv4 address.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> IpAddr {
        from_bits(self.addr, to_bits(self.addr) & self.mask())
    }

    /// The IPv4 broadcast address (all host bits set); for IPv6, the last
    /// address of the subnet.
    pub fn last(&self) -> IpAddr {
        from_bits(self.addr, to_bits(self.addr) | !self.mask() & full(self.addr))
    }

    /// The subnet mask as bits, in the low 32 or 128 bits.
    fn mask(&self) -> u128 {
        let width = u32::from(max_prefix(self.addr));
        let host = width - u32::from(self.prefix);
        let ones = full(self.addr);
        if host >= 128 { 0 } else { (ones >> host << host) & ones }
    }

    /// Whether `ip` lies in this subnet (same family, same network bits).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && to_bits(ip) & self.mask() == to_bits(self.addr) & self.mask()
    }

    /// Whether the two subnets share an address.
    pub fn overlaps(&self, other: &IpNet) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// The `n`-th address of the subnet (0 is the network address), if the
    /// subnet has that many.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        let width = u32::from(max_prefix(self.addr));
        let host_bits = width - u32::from(self.prefix);
        if host_bits < 128 && n >> host_bits != 0 {
            return None;
        }
        Some(from_bits(self.addr, (to_bits(self.addr) & self.mask()) | n))
    }

    /// The number of addresses in the subnet, saturated at `u128::MAX`.
    pub fn size(&self) -> u128 {
        let host_bits = u32::from(max_prefix(self.addr)) - u32::from(self.prefix);
        if host_bits >= 128 {
            u128::MAX
        } else {
            1u128 << host_bits
        }
    }

    /// The same subnet with address `addr` (which must be in it).
    pub fn with_addr(&self, addr: IpAddr) -> IpNet {
        IpNet {
            addr,
            prefix: self.prefix,
        }
    }
}

/// 32 or 128.
fn max_prefix(addr: IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

/// All address bits set, in the low 32 or 128 bits.
fn full(addr: IpAddr) -> u128 {
    if addr.is_ipv4() {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    }
}

fn to_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// `bits` as an address of `like`'s family.
fn from_bits(like: IpAddr, bits: u128) -> IpAddr {
    match like {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(u32::try_from(bits & u128::from(u32::MAX)).unwrap_or(0))),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(bits)),
    }
}

impl FromStr for IpNet {
    type Err = String;

    /// `ADDRESS/PREFIX`; the prefix is required.
    fn from_str(text: &str) -> Result<IpNet, String> {
        let (addr, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` has no prefix length (write e.g. 10.0.0.2/24 or fd00::2/64)"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` in `{text}` is not an IPv4 or IPv6 address"))?;
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p: &u8| !prefix.starts_with('+') && *p <= max_prefix(addr))
            .ok_or_else(|| {
                format!(
                    "`/{prefix}` in `{text}` is not a prefix length (0 to {})",
                    max_prefix(addr)
                )
            })?;
        IpNet::new(addr, prefix)
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for IpNet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IpNet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether `addr` is a usable interface address for a jail: not
/// unspecified, loopback, multicast or (IPv4) broadcast.
pub fn usable(addr: IpAddr) -> bool {
    !(addr.is_unspecified()
        || addr.is_loopback()
        || addr.is_multicast()
        || matches!(addr, IpAddr::V4(a) if a.is_broadcast()))
}

/// A MAC address as `02:00:00:aa:bb:cc` (`-` also accepted between the
/// octets): unicast and not all zeros.
pub fn parse_mac(text: &str) -> Result<[u8; 6], String> {
    let bad = || format!("`{text}` is not a MAC address (six hex octets, e.g. 02:00:0a:00:00:02)");
    let parts: Vec<&str> = text.split([':', '-']).collect();
    if parts.len() != 6 {
        return Err(bad());
    }
    let mut mac = [0u8; 6];
    for (slot, part) in mac.iter_mut().zip(&parts) {
        if part.len() != 2 {
            return Err(bad());
        }
        *slot = u8::from_str_radix(part, 16).map_err(|_| bad())?;
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "`{text}` is a multicast MAC address (the low bit of the first octet is set)"
        ));
    }
    if mac == [0; 6] {
        return Err(format!("`{text}` is the all-zero MAC address"));
    }
    Ok(mac)
}

/// A MAC address as `02:00:0a:00:00:02`.
pub fn show_mac(mac: &[u8]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// Whether `name` is a valid interface name: 1 to 15 of `A-Z a-z 0-9 _ . -`,
/// not `.` or `..`.
pub fn valid_ifname(name: &str) -> bool {
    (1..=15).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows() {
        let n: IpNet = "10.0.0.2/24".parse().unwrap();
        assert_eq!(n.to_string(), "10.0.0.2/24");
        assert_eq!(n.network().to_string(), "10.0.0.0");
        assert_eq!(n.last().to_string(), "10.0.0.255");
        assert!(n.contains("10.0.0.200".parse().unwrap()));
        assert!(!n.contains("10.0.1.1".parse().unwrap()));
        assert!(!n.contains("fd00::1".parse().unwrap()));
        assert_eq!(n.nth(1).unwrap().to_string(), "10.0.0.1");
        assert_eq!(n.nth(256), None);
        assert_eq!(n.size(), 256);
        let v6: IpNet = "fd00::2/64".parse().unwrap();
        assert_eq!(v6.network().to_string(), "fd00::");
        assert!(v6.contains("fd00::ffff".parse().unwrap()));
        assert_eq!(v6.nth(1).unwrap().to_string(), "fd00::1");
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        let host: IpNet = "10.0.0.7/32".parse().unwrap();
        assert_eq!(host.size(), 1);
        assert!(host.overlaps(&n) && n.overlaps(&host));
        assert!(!n.overlaps(&"10.0.1.0/24".parse().unwrap()));
        for bad in [
            "10.0.0.2",
            "10.0.0.2/33",
            "10.0.0/24",
            "fd00::2/129",
            "x/1",
            "10.0.0.2/+4",
            "10.0.0.2/",
        ] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn macs_and_names() {
        assert_eq!(parse_mac("02:00:0a:00:00:02").unwrap(), [2, 0, 10, 0, 0, 2]);
        assert!(parse_mac("01:00:0a:00:00:02").is_err());
        assert!(parse_mac("00:00:00:00:00:00").is_err());
        assert!(parse_mac("02:00:0a:00:00").is_err());
        assert!(parse_mac("02:00:0a:00:00:0g").is_err());
        assert_eq!(show_mac(&[2, 0, 10, 0, 0, 2]), "02:00:0a:00:00:02");
        assert!(valid_ifname("br-jail0"));
        assert!(!valid_ifname("a-very-long-name0"));
        assert!(!valid_ifname("eth 0"));
        assert!(!valid_ifname(".."));
        assert!(!valid_ifname(""));
    }
}
