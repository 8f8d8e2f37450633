//! `network:` — how the jail is connected (see [`crate::net`]): the
//! resolved [`NetworkPolicy`], the layer as written, and how layers merge.
//!
//! Fields merge one by one, lists are replaced; setting `mode` discards
//! inherited fields that the new mode does not use (`mode: none` resets every
//! link field), so a profile can switch a jail off the network in one line.

use std::fmt;
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};

use super::layer::hinted;
use crate::net::addr::{IpNet, parse_mac, usable, valid_ifname};

/// How the jail reaches the network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// Loopback only (the default).
    #[default]
    None,
    /// A veth pair: the host end enslaved to a host bridge, the jail end `eth0`.
    Bridge,
    /// An ipvlan (L2) interface on a host parent interface, as the jail's `eth0`.
    Ipvlan,
    /// A macvlan (bridge mode) interface on a host parent interface, as the jail's `eth0`.
    Macvlan,
}

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetMode::None => "none",
            NetMode::Bridge => "bridge",
            NetMode::Ipvlan => "ipvlan",
            NetMode::Macvlan => "macvlan",
        })
    }
}

/// The jail's network.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkPolicy {
    /// The mode.
    pub mode: NetMode,
    /// `bridge` mode: the host bridge the jail's veth is enslaved to.
    pub bridge: Option<String>,
    /// `bridge` mode: create the bridge when it does not exist.
    pub create_bridge: bool,
    /// `ipvlan`/`macvlan`: the host interface the jail's interface sits on.
    pub parent: Option<String>,
    /// The jail's addresses, `10.0.0.2/24` or `fd00::2/64`, or `["auto"]`
    /// (one from the daemon's address pool). Normalised, no repeats.
    pub address: Vec<String>,
    /// The default route's gateway.
    pub gateway: Option<String>,
    /// The jail interface's MTU.
    pub mtu: Option<u32>,
    /// The jail interface's MAC address (not with ipvlan).
    pub mac: Option<String>,
    /// Write the jail's `/etc/hosts` (localhost and the jail's addresses).
    pub write_hosts: bool,
    /// Write the jail's `/etc/resolv.conf` from `nameservers`.
    pub write_resolv: bool,
    /// The name servers for `/etc/resolv.conf`.
    pub nameservers: Vec<String>,
}

/// The `address` value that asks for an address from the pool.
pub const AUTO: &str = "auto";

impl NetworkPolicy {
    /// Whether `address` is `["auto"]`.
    pub fn is_auto(&self) -> bool {
        self.address.len() == 1 && self.address[0] == AUTO
    }

    /// The static addresses, parsed (none when `auto`). The strings were
    /// checked when the policy was read.
    pub fn static_addresses(&self) -> Vec<IpNet> {
        self.address.iter().filter_map(|a| a.parse().ok()).collect()
    }

    /// The gateway, parsed.
    pub fn gateway_addr(&self) -> Option<IpAddr> {
        self.gateway.as_deref().and_then(|g| g.parse().ok())
    }

    /// The name servers, parsed.
    pub fn nameserver_addrs(&self) -> Vec<IpAddr> {
        self.nameservers.iter().filter_map(|a| a.parse().ok()).collect()
    }

    /// The MAC address, parsed.
    pub fn mac_bytes(&self) -> Option<[u8; 6]> {
        self.mac.as_deref().and_then(|m| parse_mac(m).ok())
    }
}

// ---- the layer as written ---------------------------------------------------

/// `network:` as written; every field optional.
#[derive(Debug, Default)]
pub(super) struct NetworkLayer {
    pub(super) mode: Option<NetMode>,
    pub(super) bridge: Option<String>,
    pub(super) create_bridge: Option<bool>,
    pub(super) parent: Option<String>,
    pub(super) address: Option<Vec<String>>,
    pub(super) gateway: Option<String>,
    pub(super) mtu: Option<u32>,
    pub(super) mac: Option<String>,
    pub(super) write_hosts: Option<bool>,
    pub(super) write_resolv: Option<bool>,
    pub(super) nameservers: Option<Vec<String>>,
}

/// `network:` as written, before the checks that tie its fields together.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(
    rename = "Network",
    description = "The jail's network. The jail always has its own network namespace with loopback up; the mode \
                   says what else it gets."
)]
pub(super) struct RawNetwork {
    /// none (loopback only, the default); bridge (a veth pair, the host end on `bridge`, the jail end eth0);
    /// ipvlan or macvlan (an interface on the host's `parent`, as the jail's eth0). Setting the mode discards
    /// inherited fields the new mode does not use.
    mode: Option<NetMode>,
    /// bridge mode: the host bridge to attach the jail to (an interface name, at most 15 characters).
    bridge: Option<IfName>,
    /// bridge mode: create the bridge when it does not exist (default false: a missing bridge is an error).
    create_bridge: Option<bool>,
    /// ipvlan and macvlan modes: the host interface the jail's interface sits on.
    parent: Option<IfName>,
    /// The jail's addresses in CIDR form (10.0.0.2/24, fd00::2/64), or [auto] for one from jaild's address pool.
    address: Option<Vec<AddressSpec>>,
    /// The default route's gateway: in the subnet of one of the addresses (or an IPv6 link-local address).
    gateway: Option<Ip>,
    /// The jail interface's MTU, 68 to 65535 (default: the kernel's, 1500 on a veth).
    mtu: Option<Mtu>,
    /// The jail interface's MAC address, e.g. 02:00:0a:00:00:02 (not with ipvlan, which shares the parent's).
    mac: Option<Mac>,
    /// Write the jail's /etc/hosts: localhost and the jail's addresses under its hostname (default false).
    write_hosts: Option<bool>,
    /// Write the jail's /etc/resolv.conf with `nameservers` (default false).
    write_resolv: Option<bool>,
    /// The name servers for /etc/resolv.conf (IP addresses).
    nameservers: Option<Vec<Ip>>,
}

/// The link fields: what `mode: none` takes none of.
const LINK_FIELDS: &[&str] = &["bridge", "create_bridge", "parent", "address", "gateway", "mtu", "mac"];

impl RawNetwork {
    /// The link fields this layer sets (`create_bridge: false` counts as
    /// unset).
    fn link_fields(&self) -> Vec<&'static str> {
        let set = [
            self.bridge.is_some(),
            self.create_bridge == Some(true),
            self.parent.is_some(),
            self.address.as_ref().is_some_and(|a| !a.is_empty()),
            self.gateway.is_some(),
            self.mtu.is_some(),
            self.mac.is_some(),
        ];
        LINK_FIELDS
            .iter()
            .zip(set)
            .filter(|&(_, on)| on)
            .map(|(&n, _)| n)
            .collect()
    }
}

impl<'de> Deserialize<'de> for NetworkLayer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawNetwork::deserialize(d)?;
        if let Some(mode) = raw.mode {
            mode_fields(mode, &raw.link_fields(), raw.mac.is_some()).map_err(de::Error::custom)?;
        }
        let address = match raw.address {
            Some(list) => Some(address_list(list).map_err(de::Error::custom)?),
            None => None,
        };
        let layer = NetworkLayer {
            mode: raw.mode,
            bridge: raw.bridge.map(|n| n.0),
            create_bridge: raw.create_bridge,
            parent: raw.parent.map(|n| n.0),
            address,
            gateway: raw.gateway.map(|g| g.0.to_string()),
            mtu: raw.mtu.map(|m| m.0),
            mac: raw.mac.map(|m| m.0),
            write_hosts: raw.write_hosts,
            write_resolv: raw.write_resolv,
            nameservers: raw
                .nameservers
                .map(|l| l.into_iter().map(|ip| ip.0.to_string()).collect()),
        };
        if let (Some(address), Some(gateway)) = (&layer.address, &layer.gateway) {
            check_gateway(address, gateway).map_err(de::Error::custom)?;
        }
        Ok(layer)
    }
}

/// Checks that `mode` uses every field in `set` (link fields a layer or
/// the result has).
fn mode_fields(mode: NetMode, set: &[&str], has_mac: bool) -> Result<(), String> {
    let unused: Vec<&str> = match mode {
        NetMode::None => set.to_vec(),
        NetMode::Bridge => set.iter().copied().filter(|&f| f == "parent").collect(),
        NetMode::Ipvlan | NetMode::Macvlan => set
            .iter()
            .copied()
            .filter(|&f| f == "bridge" || f == "create_bridge")
            .collect(),
    };
    if let Some(field) = unused.first() {
        let hint = match mode {
            NetMode::None => "`mode: none` gives the jail loopback only; set mode: bridge, ipvlan or macvlan to use \
                              it, or drop it"
                .to_string(),
            NetMode::Bridge => "`parent` is for ipvlan and macvlan; a bridged jail names its `bridge`".to_string(),
            _ => format!("`{field}` is for bridge mode; {mode} sits on the host interface named by `parent`"),
        };
        return Err(hinted(
            format!("`network.{field}` is not used with `mode: {mode}`"),
            Some(hint),
        ));
    }
    if mode == NetMode::Ipvlan && has_mac {
        return Err(hinted(
            "`network.mac` cannot be set with `mode: ipvlan`".to_string(),
            Some("an ipvlan interface shares its parent's MAC address; use macvlan for a MAC of its own".to_string()),
        ));
    }
    Ok(())
}

/// Checks a whole address list: `auto` alone, no address twice.
fn address_list(list: Vec<AddressSpec>) -> Result<Vec<String>, String> {
    let auto = list.iter().any(|a| a.0.is_none());
    if auto && list.len() > 1 {
        return Err(hinted(
            "`auto` must be the only address".to_string(),
            Some("write `address: [auto]` for one from jaild's pool, or list static addresses".to_string()),
        ));
    }
    if auto {
        return Ok(vec![AUTO.to_string()]);
    }
    let nets: Vec<IpNet> = list.into_iter().filter_map(|a| a.0).collect();
    for (i, a) in nets.iter().enumerate() {
        if let Some(b) = nets[..i].iter().find(|b| b.addr == a.addr) {
            return Err(hinted(
                format!("address {} is listed twice (as {b} and {a})", a.addr),
                Some("each address once".to_string()),
            ));
        }
    }
    Ok(nets.iter().map(ToString::to_string).collect())
}

/// Checks that `gateway` can be reached from one of `addresses` (static
/// ones; with `auto` the pool decides).
fn check_gateway(addresses: &[String], gateway: &str) -> Result<(), String> {
    let Ok(gw) = gateway.parse::<IpAddr>() else {
        return Ok(());
    };
    if addresses.len() == 1 && addresses[0] == AUTO {
        return Ok(());
    }
    let nets: Vec<IpNet> = addresses.iter().filter_map(|a| a.parse().ok()).collect();
    if nets.iter().any(|n| n.addr == gw) {
        return Err(format!("`network.gateway` {gw} is one of the jail's own addresses"));
    }
    let link_local = matches!(gw, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
    if link_local && nets.iter().any(|n| !n.is_ipv4()) || nets.iter().any(|n| n.contains(gw)) {
        return Ok(());
    }
    if nets.is_empty() {
        return Err(hinted(
            format!("`network.gateway` {gw} is set but the jail has no address"),
            Some("add an `address` in the gateway's subnet, or `[auto]`".to_string()),
        ));
    }
    Err(hinted(
        format!(
            "`network.gateway` {gw} is not in the subnet of any of the jail's addresses ({})",
            addresses.join(", ")
        ),
        Some("the gateway must be on the jail's link, e.g. 10.0.0.1 for 10.0.0.2/24".to_string()),
    ))
}

/// An interface name.
#[derive(Clone, Debug)]
pub(super) struct IfName(pub(super) String);

impl<'de> Deserialize<'de> for IfName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if valid_ifname(&name) {
            Ok(IfName(name))
        } else {
            Err(de::Error::custom(hinted(
                format!("bad interface name `{}`", super::printable(&name)),
                Some("interface names are 1 to 15 of A-Z a-z 0-9 _ . -".to_string()),
            )))
        }
    }
}

/// One `address` entry: `Some(cidr)`, or `None` for `auto`.
#[derive(Clone, Debug)]
pub(super) struct AddressSpec(Option<IpNet>);

impl<'de> Deserialize<'de> for AddressSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if text == AUTO {
            return Ok(AddressSpec(None));
        }
        let net: IpNet = text.parse().map_err(|e: String| {
            de::Error::custom(hinted(
                super::printable(&e),
                Some("write an address with its prefix length, e.g. 10.0.0.2/24 or fd00::2/64, or `auto`".into()),
            ))
        })?;
        if !usable(net.addr) {
            return Err(de::Error::custom(format!(
                "{} cannot be an interface's address (unspecified, loopback, multicast or broadcast)",
                net.addr
            )));
        }
        if net.is_ipv4() && net.prefix < 31 && (net.addr == net.network() || net.addr == net.last()) {
            return Err(de::Error::custom(hinted(
                format!(
                    "{net} is the network's {} address, not a host's",
                    if net.addr == net.network() { "own" } else { "broadcast" }
                ),
                Some(format!(
                    "pick a host address, e.g. {}",
                    net.with_addr(net.nth(2).unwrap_or(net.addr))
                )),
            )));
        }
        Ok(AddressSpec(Some(net)))
    }
}

/// An IP address (gateway, name server).
#[derive(Clone, Debug)]
pub(super) struct Ip(pub(super) IpAddr);

impl<'de> Deserialize<'de> for Ip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let ip: IpAddr = text.parse().map_err(|_| {
            de::Error::custom(hinted(
                format!("`{}` is not an IP address", super::printable(&text)),
                Some("write a plain address without prefix, e.g. 10.0.0.1 or fd00::1".to_string()),
            ))
        })?;
        if ip.is_unspecified() || ip.is_multicast() {
            return Err(de::Error::custom(format!("{ip} cannot be used here")));
        }
        Ok(Ip(ip))
    }
}

/// An MTU, 68..=65535.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mtu(pub(super) u32);

impl<'de> Deserialize<'de> for Mtu {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        match u32::try_from(n) {
            Ok(m @ 68..=65535) => Ok(Mtu(m)),
            _ => Err(de::Error::custom(hinted(
                format!("MTU {n} is out of range"),
                Some("an MTU is 68 to 65535 (1500 on most links; IPv6 needs at least 1280)".to_string()),
            ))),
        }
    }
}

/// A MAC address, normalised to lower-case `aa:bb:…`.
#[derive(Clone, Debug)]
pub(super) struct Mac(pub(super) String);

impl<'de> Deserialize<'de> for Mac {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let mac = parse_mac(&text).map_err(|e| {
            de::Error::custom(hinted(
                super::printable(&e),
                Some("use a locally administered unicast address such as 02:00:0a:00:00:02".to_string()),
            ))
        })?;
        Ok(Mac(crate::net::addr::show_mac(&mac)))
    }
}

/// Stacks one layer's `network:` on `policy`.
pub(super) fn merge(policy: &mut NetworkPolicy, layer: NetworkLayer) {
    if let Some(mode) = layer.mode {
        let old = std::mem::take(policy);
        *policy = NetworkPolicy {
            mode,
            write_hosts: old.write_hosts,
            write_resolv: old.write_resolv,
            nameservers: old.nameservers,
            ..NetworkPolicy::default()
        };
        match mode {
            NetMode::None => {}
            NetMode::Bridge => {
                policy.bridge = old.bridge;
                policy.create_bridge = old.create_bridge;
            }
            NetMode::Ipvlan | NetMode::Macvlan => policy.parent = old.parent,
        }
        if mode != NetMode::None && mode != NetMode::Ipvlan {
            policy.mac = old.mac;
        }
        if mode != NetMode::None {
            policy.address = old.address;
            policy.gateway = old.gateway;
            policy.mtu = old.mtu;
        }
    }
    macro_rules! set {
        ($($field:ident),*) => {$(
            if let Some(v) = layer.$field {
                policy.$field = v.into();
            }
        )*};
    }
    set!(bridge, parent, address, gateway, mtu, mac, nameservers);
    if let Some(v) = layer.create_bridge {
        policy.create_bridge = v;
    }
    if let Some(v) = layer.write_hosts {
        policy.write_hosts = v;
    }
    if let Some(v) = layer.write_resolv {
        policy.write_resolv = v;
    }
}

/// Checks across fields, once every layer has spoken.
pub(super) fn check(policy: &NetworkPolicy) -> Result<(), String> {
    let mut set = Vec::new();
    for (field, on) in [
        ("bridge", policy.bridge.is_some()),
        ("create_bridge", policy.create_bridge),
        ("parent", policy.parent.is_some()),
        ("address", !policy.address.is_empty()),
        ("gateway", policy.gateway.is_some()),
        ("mtu", policy.mtu.is_some()),
        ("mac", policy.mac.is_some()),
    ] {
        if on {
            set.push(field);
        }
    }
    mode_fields(policy.mode, &set, policy.mac.is_some()).map_err(|e| super::layer::split_hint_text(&e))?;
    match policy.mode {
        NetMode::Bridge if policy.bridge.is_none() => {
            return Err(
                "`network.mode: bridge` needs `network.bridge`, the host bridge to attach the jail to".to_string(),
            );
        }
        NetMode::Ipvlan | NetMode::Macvlan if policy.parent.is_none() => {
            return Err(format!(
                "`network.mode: {}` needs `network.parent`, the host interface it sits on",
                policy.mode
            ));
        }
        _ => {}
    }
    if let Some(gateway) = &policy.gateway {
        check_gateway(&policy.address, gateway).map_err(|e| super::layer::split_hint_text(&e))?;
    }
    if policy.write_resolv && policy.nameservers.is_empty() {
        return Err(
            "`network.write_resolv: true` needs `network.nameservers` to write into /etc/resolv.conf".to_string(),
        );
    }
    Ok(())
}
