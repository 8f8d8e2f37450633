//! A jail's network (DESIGN §4 steps 1–3; policy `network:`), through
//! rtnetlink — no `ip` command.
//!
//! The jail always has its own network namespace; the spawn sequence brings
//! its loopback up. [`setup`] is called by the parent (host root) once that
//! namespace exists, holding it by fd, with the calling thread in the host's
//! namespace:
//!
//! - `bridge`: ensures the bridge (created when `create_bridge`, else an
//!   error), creates a veth pair whose host end `vj<hash>` is enslaved to the
//!   bridge and whose other end is created directly inside the jail's
//!   namespace as `eth0`; then, over a netlink socket opened in the jail's
//!   namespace, sets MTU and MAC, adds the addresses, brings `eth0` up and
//!   adds the default route.
//! - `ipvlan`/`macvlan`: creates the interface on the host's `parent`
//!   directly inside the jail's namespace as `eth0`, then the same.
//!
//! Everything is checked before anything is made (bridge, parent, name
//! clashes, addresses the host already uses), and a failure half-way removes
//! what this call made. The [`NetSetup`] returned is also the record
//! ([`teardown_recorded`]) a restarted daemon uses to clean up after a crash:
//! deleting the host end of the veth deletes its peer; ipvlan and macvlan
//! interfaces vanish with the jail's namespace.
//!
//! libjail is synchronous: each call runs a current-thread tokio runtime and
//! drops it before returning, so no thread outlives the call (the caller
//! forks afterwards).

pub mod addr;
mod etc;
mod nl;
mod pool;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth, IpVlanMode, MacVlanMode};
use rtnetlink::{
    Handle, LinkBridge, LinkIpVlan, LinkMacVlan, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};
use serde::{Deserialize, Serialize};

pub use addr::IpNet;
pub use etc::{EtcFiles, host_nameservers, write_etc};
pub use nl::Link;
pub use pool::AddressPool;

use crate::policy::{NetMode, NetworkPolicy};

/// The name of the jail's interface.
pub const JAIL_IF: &str = "eth0";

/// What went wrong. Every error before anything was made leaves the host
/// and the jail untouched.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// `bridge` mode on a bridge that does not exist.
    #[error("bridge {0} does not exist (create it or set create_bridge: true)")]
    BridgeMissing(String),
    /// The named bridge is some other kind of interface.
    #[error("{name} is not a bridge (it is {kind})")]
    NotABridge {
        /// The interface.
        name: String,
        /// What it is.
        kind: String,
    },
    /// `ipvlan`/`macvlan` on a parent that does not exist.
    #[error("parent interface {0} does not exist on the host")]
    ParentMissing(String),
    /// The jail's host interface name is taken.
    #[error(
        "interface {name} already exists on the host: a jail named {jail} is still running, or its veth was left \
         behind (delete it, or let jaild clean up)"
    )]
    HostIfExists {
        /// The interface.
        name: String,
        /// The jail it is named after.
        jail: String,
    },
    /// One of the jail's addresses is already the host's.
    #[error("address {addr} is already in use on the host (on {ifname})")]
    AddressInUse {
        /// The address.
        addr: IpAddr,
        /// Where the host has it.
        ifname: String,
    },
    /// The address pool refused.
    #[error("address pool: {0}")]
    Pool(String),
    /// The kernel lacks what the policy needs.
    #[error("network: {0}")]
    Unsupported(String),
    /// Inconsistent input (policy and addresses).
    #[error("network: {0}")]
    Invalid(String),
    /// A netlink or file operation failed.
    #[error("network: cannot {step}: {source}")]
    Io {
        /// What we tried.
        step: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}

impl NetError {
    fn io(step: impl Into<String>, source: io::Error) -> NetError {
        NetError::Io {
            step: step.into(),
            source,
        }
    }
}

/// The host end of jail `jail`'s veth: `vj` and 12 hex digits of a hash of
/// the name (14 characters; interface names have at most 15).
pub fn host_ifname(jail: &str) -> String {
    // FNV-1a, 64 bits, folded to 48.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in jail.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("vj{:012x}", (hash ^ (hash >> 48)) & 0xffff_ffff_ffff)
}

/// What [`setup`] made, and the record that undoes it: serialise it with the
/// jail's state so [`teardown_recorded`] works after a crash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSetup {
    /// The jail.
    pub jail: String,
    /// The mode.
    pub mode: NetMode,
    /// The host end of the veth (`bridge` mode).
    pub host_if: Option<String>,
    /// The bridge it is enslaved to.
    pub bridge: Option<String>,
    /// Whether this setup created the bridge (it is kept on teardown: other
    /// jails may use it).
    pub created_bridge: bool,
    /// The jail's addresses.
    pub addresses: Vec<IpNet>,
    /// The default route's gateway.
    pub gateway: Option<IpAddr>,
}

impl NetSetup {
    /// Removes what the jail got on the host: see [`teardown_recorded`].
    pub fn teardown(&self) -> Result<(), NetError> {
        teardown_recorded(self)
    }

    /// The IPv4 and IPv6 addresses, for `jailctl list`.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.addresses.iter().map(|n| n.addr).collect()
    }
}

/// Deletes the host end of a recorded veth (its peer goes with it) in the
/// calling thread's network namespace. An interface already gone is fine;
/// an interface of that name that is not a veth is left alone (error).
/// ipvlan and macvlan interfaces need nothing: they vanish with the jail's
/// namespace.
pub fn teardown_recorded(record: &NetSetup) -> Result<(), NetError> {
    let Some(host_if) = record.host_if.clone() else {
        return Ok(());
    };
    nl::run(|host| async move {
        match nl::link_by_name(&host, &host_if).await? {
            None => Ok(()),
            Some(link) if link.kind.as_deref() == Some("veth") => nl::delete_link(&host, link.index, &host_if).await,
            Some(link) => Err(NetError::Invalid(format!(
                "{host_if} is a {}, not the jail's veth: left alone",
                link.kind.unwrap_or_else(|| "device".to_string())
            ))),
        }
    })
}

/// The addresses jail `jail` gets: `address: [auto]` leases one from
/// `pool`; static addresses are registered in `pool` when there is one
/// (they must lie in it, and no two jails may share one). All or nothing:
/// on error, what this call reserved is released.
pub fn resolve_addresses(
    jail: &str,
    policy: &NetworkPolicy,
    pool: Option<&AddressPool>,
) -> Result<Vec<IpNet>, NetError> {
    if policy.mode == NetMode::None {
        return Ok(Vec::new());
    }
    if policy.is_auto() {
        let pool = pool.ok_or_else(|| {
            NetError::Pool("`address: [auto]` needs an address pool in jaild's configuration".to_string())
        })?;
        return Ok(vec![pool.lease(jail)?]);
    }
    let addresses = policy.static_addresses();
    if let Some(pool) = pool {
        let held_before = pool.held_by(jail)?;
        for (i, net) in addresses.iter().enumerate() {
            if net.is_ipv4() != pool.cidr.is_ipv4() {
                continue;
            }
            if let Err(e) = pool.reserve(jail, *net) {
                for earlier in &addresses[..i] {
                    if !held_before.contains(&earlier.addr) {
                        let _ = std::fs::remove_file(pool.dir.join(earlier.addr.to_string()));
                    }
                }
                return Err(e);
            }
        }
    }
    Ok(addresses)
}

/// The gateway [`setup`] uses: the policy's, or with `address: [auto]` the
/// pool's (the first address of the leased address's subnet).
fn gateway_of(policy: &NetworkPolicy, addresses: &[IpNet]) -> Option<IpAddr> {
    policy.gateway_addr().or_else(|| {
        if policy.is_auto() {
            addresses.first().and_then(|a| a.nth(1))
        } else {
            None
        }
    })
}

/// Connects the jail whose network namespace is `netns` as `policy` says,
/// with `addresses` (from [`resolve_addresses`]). The calling thread must be
/// in the host's network namespace; it is moved into the jail's namespace
/// only to open a netlink socket there, and back. See the module docs.
pub fn setup(
    netns: BorrowedFd<'_>,
    jail: &str,
    policy: &NetworkPolicy,
    addresses: &[IpNet],
) -> Result<NetSetup, NetError> {
    let mut record = NetSetup {
        jail: jail.to_string(),
        mode: policy.mode,
        host_if: None,
        bridge: None,
        created_bridge: false,
        addresses: addresses.to_vec(),
        gateway: gateway_of(policy, addresses),
    };
    if policy.mode == NetMode::None {
        if !addresses.is_empty() {
            return Err(NetError::Invalid("`mode: none` takes no addresses".to_string()));
        }
        return Ok(record);
    }
    for (i, a) in addresses.iter().enumerate() {
        if !addr::usable(a.addr) {
            return Err(NetError::Invalid(format!("{a} cannot be an interface's address")));
        }
        if addresses[..i].iter().any(|b| b.addr == a.addr) {
            return Err(NetError::Invalid(format!("address {} is given twice", a.addr)));
        }
    }
    let config = JailConfig {
        addresses,
        gateway: record.gateway,
        mtu: policy.mtu,
        mac: policy.mac_bytes(),
    };
    match policy.mode {
        NetMode::Bridge => {
            let bridge = policy
                .bridge
                .clone()
                .ok_or_else(|| NetError::Invalid("`mode: bridge` needs `bridge`".to_string()))?;
            let host_if = host_ifname(jail);
            let (b, h, c) = (&bridge, &host_if, &config);
            let created =
                nl::run(|host| async move { setup_bridge(&host, netns, jail, b, policy.create_bridge, h, c).await })?;
            record.host_if = Some(host_if);
            record.bridge = Some(bridge);
            record.created_bridge = created;
        }
        NetMode::Ipvlan | NetMode::Macvlan => {
            let parent = policy
                .parent
                .clone()
                .ok_or_else(|| NetError::Invalid(format!("`mode: {}` needs `parent`", policy.mode)))?;
            let (p, c) = (&parent, &config);
            nl::run(|host| async move { setup_sub(&host, netns, policy.mode, p, c).await })?;
        }
        NetMode::None => {}
    }
    Ok(record)
}

/// The interfaces of the calling thread's network namespace, or of `netns`.
pub fn links(netns: Option<BorrowedFd<'_>>) -> Result<Vec<Link>, NetError> {
    nl::run(|host| async move {
        let handle = match netns {
            Some(ns) => nl::connect_in(ns)?,
            None => host,
        };
        nl::all_links(&handle).await
    })
}

/// What the jail's `eth0` gets.
struct JailConfig<'a> {
    addresses: &'a [IpNet],
    gateway: Option<IpAddr>,
    mtu: Option<u32>,
    mac: Option<[u8; 6]>,
}

/// Refuses addresses the host already has.
async fn check_host_addresses(host: &Handle, addresses: &[IpNet]) -> Result<(), NetError> {
    for link in nl::all_links(host).await? {
        if let Some(a) = link
            .addresses
            .iter()
            .find(|a| addresses.iter().any(|b| b.addr == a.addr))
        {
            return Err(NetError::AddressInUse {
                addr: a.addr,
                ifname: link.name,
            });
        }
    }
    Ok(())
}

/// `bridge` mode; returns whether the bridge was created.
async fn setup_bridge(
    host: &Handle,
    netns: BorrowedFd<'_>,
    jail: &str,
    bridge: &str,
    create_bridge: bool,
    host_if: &str,
    config: &JailConfig<'_>,
) -> Result<bool, NetError> {
    // Checks first: nothing is made unless all pass.
    let existing = nl::link_by_name(host, bridge).await?;
    match &existing {
        Some(link) if link.kind.as_deref() != Some("bridge") => {
            return Err(NetError::NotABridge {
                name: bridge.to_string(),
                kind: link.kind.clone().unwrap_or_else(|| "a plain device".to_string()),
            });
        }
        None if !create_bridge => return Err(NetError::BridgeMissing(bridge.to_string())),
        _ => {}
    }
    if nl::link_by_name(host, host_if).await?.is_some() {
        return Err(NetError::HostIfExists {
            name: host_if.to_string(),
            jail: jail.to_string(),
        });
    }
    check_host_addresses(host, config.addresses).await?;

    let (bridge_index, created) = match existing {
        Some(link) => (link.index, false),
        None => {
            let added = host.link().add(LinkBridge::new(bridge).build()).execute().await;
            // Another jail starting at the same moment may have made it between our check and
            // our create: then it is theirs to set up, and we join it.
            let raced = match added {
                Ok(()) => false,
                Err(e) => {
                    let e = nl::nl_io(e);
                    if e.raw_os_error() != Some(libc::EEXIST) {
                        return Err(NetError::io(format!("create bridge {bridge}"), e));
                    }
                    true
                }
            };
            let link = nl::link_by_name(host, bridge)
                .await?
                .ok_or_else(|| NetError::io(format!("find the new bridge {bridge}"), io::ErrorKind::NotFound.into()))?;
            if raced && link.kind.as_deref() != Some("bridge") {
                return Err(NetError::NotABridge {
                    name: bridge.to_string(),
                    kind: link.kind.clone().unwrap_or_else(|| "a plain device".to_string()),
                });
            }
            (link.index, !raced)
        }
    };
    let made = async {
        if created {
            // The gateway lives on the new bridge, so the jail reaches the host.
            if let Some(gw) = config.gateway
                && let Some(net) = config.addresses.iter().find(|a| a.contains(gw))
            {
                nl::add_address(host, bridge_index, bridge, net.with_addr(gw)).await?;
            }
            nl::set_up(host, bridge_index, bridge).await?;
        }
        // The pair: the peer is made inside the jail's namespace as eth0.
        let mut peer = LinkUnspec::new_with_name(JAIL_IF).setns_by_fd(netns.as_raw_fd());
        let mut pair = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth).name(host_if.to_string());
        if let Some(mtu) = config.mtu {
            peer = peer.mtu(mtu);
            pair = pair.mtu(mtu);
        }
        let pair = pair.set_info_data(InfoData::Veth(InfoVeth::Peer(peer.build())));
        host.link()
            .add(pair.build())
            .execute()
            .await
            .map_err(|e| NetError::io(format!("create veth {host_if}"), nl::nl_io(e)))?;
        let veth = nl::link_by_name(host, host_if)
            .await?
            .ok_or_else(|| NetError::io(format!("find the new veth {host_if}"), io::ErrorKind::NotFound.into()))?;
        host.link()
            .set(
                LinkUnspec::new_with_index(veth.index)
                    .controller(bridge_index)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| NetError::io(format!("enslave {host_if} to {bridge}"), nl::nl_io(e)))?;
        configure_jail(netns, config).await
    }
    .await;
    if let Err(e) = made {
        // Undo: the veth's peer goes with it; a bridge we made goes too, unless another jail
        // joined it meanwhile (starts run in parallel).
        if let Ok(Some(veth)) = nl::link_by_name(host, host_if).await {
            let _ = nl::delete_link(host, veth.index, host_if).await;
        }
        if created
            && !nl::all_links(host)
                .await
                .is_ok_and(|links| links.iter().any(|l| l.master == Some(bridge_index)))
        {
            let _ = nl::delete_link(host, bridge_index, bridge).await;
        }
        return Err(e);
    }
    Ok(created)
}

/// `ipvlan` and `macvlan` modes.
async fn setup_sub(
    host: &Handle,
    netns: BorrowedFd<'_>,
    mode: NetMode,
    parent: &str,
    config: &JailConfig<'_>,
) -> Result<(), NetError> {
    let parent_link = nl::link_by_name(host, parent)
        .await?
        .ok_or_else(|| NetError::ParentMissing(parent.to_string()))?;
    check_host_addresses(host, config.addresses).await?;
    let fd = netns.as_raw_fd();
    let message = match mode {
        NetMode::Ipvlan => {
            let b = LinkIpVlan::new(JAIL_IF, parent_link.index, IpVlanMode::L2).setns_by_fd(fd);
            match config.mtu {
                Some(m) => b.mtu(m).build(),
                None => b.build(),
            }
        }
        _ => {
            let b = LinkMacVlan::new(JAIL_IF, parent_link.index, MacVlanMode::Bridge).setns_by_fd(fd);
            match config.mtu {
                Some(m) => b.mtu(m).build(),
                None => b.build(),
            }
        }
    };
    host.link().add(message).execute().await.map_err(|e| {
        let e = nl::nl_io(e);
        if e.raw_os_error() == Some(libc::EOPNOTSUPP) {
            NetError::Unsupported(format!(
                "this kernel cannot make {mode} interfaces (CONFIG_{} is off)",
                mode.to_string().to_uppercase()
            ))
        } else {
            NetError::io(format!("create the {mode} interface on {parent}"), e)
        }
    })?;
    if let Err(e) = configure_jail(netns, config).await {
        // Undo inside the jail's namespace.
        if let Ok(jail) = nl::connect_in(netns)
            && let Ok(Some(link)) = nl::link_by_name(&jail, JAIL_IF).await
        {
            let _ = nl::delete_link(&jail, link.index, JAIL_IF).await;
        }
        return Err(e);
    }
    Ok(())
}

/// Inside the jail's namespace: MTU and MAC, addresses, up, default route.
async fn configure_jail(netns: BorrowedFd<'_>, config: &JailConfig<'_>) -> Result<(), NetError> {
    let jail = nl::connect_in(netns)?;
    let eth0 = nl::link_by_name(&jail, JAIL_IF)
        .await?
        .ok_or_else(|| NetError::io("find eth0 in the jail", io::ErrorKind::NotFound.into()))?;
    if config.mac.is_some() || config.mtu.is_some() {
        let mut b = LinkUnspec::new_with_index(eth0.index);
        if let Some(mac) = config.mac {
            b = b.address(mac.to_vec());
        }
        if let Some(mtu) = config.mtu {
            b = b.mtu(mtu);
        }
        jail.link()
            .set(b.build())
            .execute()
            .await
            .map_err(|e| NetError::io("set the MTU and MAC address of the jail's eth0", nl::nl_io(e)))?;
    }
    for net in config.addresses {
        nl::add_address(&jail, eth0.index, JAIL_IF, *net).await?;
    }
    nl::set_up(&jail, eth0.index, JAIL_IF).await?;
    if let Some(gw) = config.gateway {
        let route = match gw {
            IpAddr::V4(gw) => RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(gw)
                .output_interface(eth0.index)
                .build(),
            IpAddr::V6(gw) => RouteMessageBuilder::<Ipv6Addr>::new()
                .gateway(gw)
                .output_interface(eth0.index)
                .build(),
        };
        jail.route()
            .add(route)
            .execute()
            .await
            .map_err(|e| NetError::io(format!("add the default route via {gw}"), nl::nl_io(e)))?;
    }
    Ok(())
}
