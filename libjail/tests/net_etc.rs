//! `libjail::net::write_etc`: /etc/hosts and /etc/resolv.conf written into a
//! rootfs through its fd, symlinks resolved inside the rootfs only.

use std::fs::{self, File};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::symlink;

use libjail::net::{EtcFiles, IpNet, write_etc};
use libjail::policy::{NetMode, NetworkPolicy};

fn open_root(path: &std::path::Path) -> OwnedFd {
    OwnedFd::from(File::open(path).unwrap())
}

fn files() -> EtcFiles {
    let policy = NetworkPolicy {
        mode: NetMode::Bridge,
        bridge: Some("br0".to_string()),
        address: vec!["10.0.0.2/24".to_string()],
        write_hosts: true,
        write_resolv: true,
        nameservers: vec!["10.0.0.1".to_string(), "fd00::1".to_string()],
        ..NetworkPolicy::default()
    };
    let addresses: Vec<IpNet> = vec!["10.0.0.2/24".parse().unwrap()];
    EtcFiles::for_jail(&policy, "web", &addresses)
}

#[test]
fn contents() {
    let f = files();
    let hosts = f.hosts.unwrap();
    assert!(hosts.contains("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(hosts.contains("10.0.0.2\tweb\n"), "{hosts}");
    assert_eq!(
        f.resolv.unwrap(),
        "# written by jaild\nnameserver 10.0.0.1\nnameserver fd00::1\n"
    );
    let none = EtcFiles::for_jail(&NetworkPolicy::default(), "x", &[]);
    assert_eq!(none, EtcFiles::default());
}

#[test]
fn creates_etc_and_rewrites_existing_files() {
    let root = tempfile::tempdir().unwrap();
    write_etc(open_root(root.path()).as_fd(), &files()).unwrap();
    assert!(
        fs::read_to_string(root.path().join("etc/hosts"))
            .unwrap()
            .contains("10.0.0.2\tweb")
    );
    assert!(
        fs::read_to_string(root.path().join("etc/resolv.conf"))
            .unwrap()
            .contains("nameserver 10.0.0.1")
    );
    // An existing, longer file is truncated.
    fs::write(root.path().join("etc/hosts"), "x".repeat(10_000)).unwrap();
    write_etc(open_root(root.path()).as_fd(), &files()).unwrap();
    let hosts = fs::read_to_string(root.path().join("etc/hosts")).unwrap();
    assert!(
        !hosts.contains('x') && hosts.starts_with("# written by jaild"),
        "{hosts}"
    );
}

#[test]
fn symlinks_stay_inside_the_rootfs() {
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let host_file = outside.path().join("hosts");
    fs::write(&host_file, "the host's own\n").unwrap();
    fs::create_dir(root.path().join("etc")).unwrap();
    // An absolute symlink to a host path: inside the root it names
    // ROOT/<that path>, which does not exist, so the link is replaced.
    symlink(&host_file, root.path().join("etc/hosts")).unwrap();
    // The usual dangling resolv.conf of a systemd-resolved rootfs.
    symlink(
        "../run/systemd/resolve/stub-resolv.conf",
        root.path().join("etc/resolv.conf"),
    )
    .unwrap();
    // And one that climbs out with `..`: stays at the root.
    fs::create_dir_all(root.path().join("srv")).unwrap();
    write_etc(open_root(root.path()).as_fd(), &files()).unwrap();
    assert_eq!(fs::read_to_string(&host_file).unwrap(), "the host's own\n");
    let hosts = root.path().join("etc/hosts");
    assert!(fs::symlink_metadata(&hosts).unwrap().is_file());
    assert!(fs::read_to_string(&hosts).unwrap().contains("10.0.0.2\tweb"));
    assert!(
        fs::symlink_metadata(root.path().join("etc/resolv.conf"))
            .unwrap()
            .is_file()
    );

    // A symlink to a file inside the rootfs is followed there.
    fs::remove_file(&hosts).unwrap();
    fs::write(root.path().join("srv/hosts"), "old\n").unwrap();
    symlink("../../../../srv/hosts", &hosts).unwrap();
    write_etc(open_root(root.path()).as_fd(), &files()).unwrap();
    assert!(fs::symlink_metadata(&hosts).unwrap().file_type().is_symlink());
    assert!(
        fs::read_to_string(root.path().join("srv/hosts"))
            .unwrap()
            .contains("10.0.0.2\tweb")
    );
}

#[test]
fn a_fifo_is_refused_without_hanging() {
    let root = tempfile::tempdir().unwrap();
    fs::create_dir(root.path().join("etc")).unwrap();
    nix::unistd::mkfifo(
        &root.path().join("etc/hosts"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let err = write_etc(open_root(root.path()).as_fd(), &files()).unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}
