//! rtnetlink, driven synchronously: a current-thread tokio runtime that
//! lives only inside one call ([`run`]) and spawns no thread, so a caller
//! that forks afterwards stays single-threaded; and netlink connections
//! opened inside another network namespace ([`connect_in`]) by entering it
//! with the calling thread only long enough to create the socket.

use std::fs::File;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage};
use rtnetlink::packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use rtnetlink::{Handle, LinkUnspec};

use super::NetError;
use super::addr::IpNet;

/// Runs `make(connection)` to completion on a fresh current-thread runtime
/// with a netlink connection in the calling thread's network namespace,
/// then drops the runtime (and with it the connection) before returning.
pub(super) fn run<T, F, Fut>(make: F) -> Result<T, NetError>
where
    F: FnOnce(Handle) -> Fut,
    Fut: Future<Output = Result<T, NetError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| NetError::io("start the netlink runtime", e))?;
    let result = rt.block_on(async {
        let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| NetError::io("open a netlink socket", e))?;
        let task = tokio::spawn(conn);
        let result = make(handle).await;
        task.abort();
        result
    });
    drop(rt);
    result
}

/// The calling thread, moved into another network namespace until
/// dropped (or [`NetnsGuard::leave`]): then back where it was.
pub(super) struct NetnsGuard {
    original: Option<File>,
}

impl NetnsGuard {
    /// Moves the calling thread into the network namespace `netns`.
    pub(super) fn enter(netns: BorrowedFd<'_>) -> Result<NetnsGuard, NetError> {
        // thread-self: the namespace of this thread, not of the main thread.
        let original = File::open("/proc/thread-self/ns/net")
            .map_err(|e| NetError::io("open this thread's network namespace", e))?;
        crate::sys::setns(netns, libc::CLONE_NEWNET)
            .map_err(|e| NetError::io("enter the jail's network namespace", e))?;
        Ok(NetnsGuard {
            original: Some(original),
        })
    }

    /// Back to the original namespace.
    pub(super) fn leave(mut self) -> Result<(), NetError> {
        self.restore()
    }

    fn restore(&mut self) -> Result<(), NetError> {
        match self.original.take() {
            Some(original) => crate::sys::setns(original.as_fd(), libc::CLONE_NEWNET)
                .map_err(|e| NetError::io("return to the original network namespace", e)),
            None => Ok(()),
        }
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        // A thread left in the jail's namespace would create the host's
        // interfaces in there: never go on like that.
        if let Err(e) = self.restore() {
            panic!("{e}");
        }
    }
}

/// A netlink connection inside the network namespace `netns`, served by
/// the runtime of the current [`run`].
pub(super) fn connect_in(netns: BorrowedFd<'_>) -> Result<Handle, NetError> {
    let guard = NetnsGuard::enter(netns)?;
    let made = rtnetlink::new_connection();
    guard.leave()?;
    let (conn, handle, _) = made.map_err(|e| NetError::io("open a netlink socket in the jail's namespace", e))?;
    tokio::spawn(conn);
    Ok(handle)
}

/// A netlink failure as an `io::Error` (the kernel's errno when it sent one).
pub(super) fn nl_io(e: rtnetlink::Error) -> io::Error {
    match e {
        rtnetlink::Error::NetlinkError(msg) => msg.to_io(),
        other => io::Error::other(other.to_string()),
    }
}

/// What we need to know about a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Its index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// Its kind (`veth`, `bridge`, `macvlan`, …), `None` for plain devices
    /// such as loopback.
    pub kind: Option<String>,
    /// Whether it is administratively up.
    pub up: bool,
    /// The index of its bridge, when enslaved.
    pub master: Option<u32>,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// Its MAC address.
    pub mac: Option<Vec<u8>>,
    /// Its addresses.
    pub addresses: Vec<IpNet>,
}

impl Link {
    fn from_message(msg: &LinkMessage) -> Link {
        let mut link = Link {
            index: msg.header.index,
            name: String::new(),
            kind: None,
            up: msg.header.flags.contains(LinkFlags::Up),
            master: None,
            mtu: None,
            mac: None,
            addresses: Vec::new(),
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::IfName(name) => link.name = name.clone(),
                LinkAttribute::Controller(index) => link.master = Some(*index),
                LinkAttribute::Mtu(mtu) => link.mtu = Some(*mtu),
                LinkAttribute::Address(mac) => link.mac = Some(mac.clone()),
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::Kind(kind) = info {
                            link.kind = Some(kind_name(kind));
                        }
                    }
                }
                _ => {}
            }
        }
        link
    }
}

/// `veth`, `bridge`, … as `ip -d link` says.
fn kind_name(kind: &InfoKind) -> String {
    kind.to_string()
}

/// The link called `name`, if there is one.
pub(super) async fn link_by_name(handle: &Handle, name: &str) -> Result<Option<Link>, NetError> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Some(Link::from_message(&msg))),
        Ok(None) => Ok(None),
        Err(e) => {
            let e = nl_io(e);
            if e.raw_os_error() == Some(libc::ENODEV) {
                Ok(None)
            } else {
                Err(NetError::io(format!("look up interface {name}"), e))
            }
        }
    }
}

/// Every link with its addresses.
pub(super) async fn all_links(handle: &Handle) -> Result<Vec<Link>, NetError> {
    let mut links: Vec<Link> = handle
        .link()
        .get()
        .execute()
        .map_ok(|m| Link::from_message(&m))
        .try_collect()
        .await
        .map_err(|e| NetError::io("list interfaces", nl_io(e)))?;
    let addresses: Vec<AddressMessage> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(|e| NetError::io("list addresses", nl_io(e)))?;
    for msg in addresses {
        let addr = msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(ip) => Some(*ip),
            _ => None,
        });
        let addr = addr.or_else(|| {
            msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(ip) => Some(*ip),
                _ => None,
            })
        });
        if let (Some(addr), Some(link)) = (addr, links.iter_mut().find(|l| l.index == msg.header.index)) {
            link.addresses.push(IpNet {
                addr,
                prefix: msg.header.prefix_len,
            });
        }
    }
    links.sort_by_key(|l| l.index);
    Ok(links)
}

/// Deletes link `index`; a link already gone is fine.
pub(super) async fn delete_link(handle: &Handle, index: u32, name: &str) -> Result<(), NetError> {
    match handle.link().del(index).execute().await {
        Ok(()) => Ok(()),
        Err(e) => {
            let e = nl_io(e);
            if e.raw_os_error() == Some(libc::ENODEV) {
                Ok(())
            } else {
                Err(NetError::io(format!("delete interface {name}"), e))
            }
        }
    }
}

/// Sets link `index` up.
pub(super) async fn set_up(handle: &Handle, index: u32, name: &str) -> Result<(), NetError> {
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| NetError::io(format!("set {name} up"), nl_io(e)))
}

/// Adds `net` to link `index` (IPv6 without duplicate address detection:
/// usable at once, and the jail's addresses are unique by construction).
pub(super) async fn add_address(handle: &Handle, index: u32, name: &str, net: IpNet) -> Result<(), NetError> {
    let mut req = handle.address().add(index, net.addr, net.prefix);
    if net.addr.is_ipv6() {
        use rtnetlink::packet_route::address::{AddressFlags, AddressHeaderFlags};
        req.message_mut().header.flags |= AddressHeaderFlags::Nodad;
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    req.execute()
        .await
        .map_err(|e| NetError::io(format!("add address {net} to {name}"), nl_io(e)))
}
