//! `build_from`, the library entry point `jailctl create --from` will call: each source kind,
//! with and without a shift. Needs root and a static busybox (`apt-get install busybox-static`).

mod common;

use std::fs;

use common::{RawTar, gzip, owner, root, scratch};
use rootfs_tools::ids::IdShift;
use rootfs_tools::source::Built;
use rootfs_tools::{BuildOptions, Source, build_from};

#[test]
fn every_source_builds_through_one_call() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let shift = Some(IdShift::new(0, 300000, 65536).unwrap());

    // busybox, shifted after it is built.
    let dir = tmp.path().join("bb");
    let report = build_from(
        &"busybox".parse().unwrap(),
        &dir,
        &BuildOptions {
            shift,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(matches!(report.built, Built::Busybox(_)));
    assert_eq!(report.source, "busybox");
    let shifted = report.shift.expect("a shift report");
    assert!(shifted.changed > 100);
    assert_eq!(owner(&dir.join("bin/busybox")), (300000, 300000));
    assert_eq!(owner(&dir.join("home/user")), (301000, 301000));

    // A tarball, shifted as it is unpacked.
    let mut t = RawTar::default();
    t.dir("./").file("etc/motd", b"hello\n");
    let tarball = tmp.path().join("image.tar.gz");
    fs::write(&tarball, gzip(&t.finish())).unwrap();
    let source: Source = format!("tar:{}", tarball.display()).parse().unwrap();
    let dir = tmp.path().join("tar");
    let report = build_from(
        &source,
        &dir,
        &BuildOptions {
            shift,
            atomic: true,
            ..Default::default()
        },
    )
    .unwrap();
    let Built::Unpack(unpacked) = &report.built else {
        panic!("not an unpack report: {:?}", report.built);
    };
    assert_eq!(unpacked.format, "tar+gzip");
    assert!(report.shift.is_none(), "shifted while unpacking, not after");
    assert_eq!(owner(&dir.join("etc/motd")), (300000, 300000));
    assert_eq!(report.dir, dir);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["built"]["files"], 1);

    // A directory given as a tarball is refused with a hint.
    let err = build_from(
        &format!("tar:{}", tmp.path().display()).parse().unwrap(),
        &tmp.path().join("x"),
        &BuildOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("oci:PATH"), "{err}");
}
