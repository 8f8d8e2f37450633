//! `jail-rootfs unpack` of OCI image layouts built by hand in the test: layers applied in order
//! with whiteouts and opaque directories, blobs checked against their digests, images chosen by
//! ref name through nested indexes. Needs root.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{E, RawTar, gzip, json, owner, root, scratch, zstd};
use rootfs_tools::RootfsError;
use rootfs_tools::unpack::{UnpackOptions, unpack};
use serde_json::json;
use sha2::{Digest, Sha256};

const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// An OCI image layout being written.
struct Layout {
    dir: PathBuf,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout { dir: dir.to_path_buf() }
    }

    /// Stores a blob; returns its descriptor.
    fn blob(&self, media_type: &str, bytes: &[u8]) -> serde_json::Value {
        let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        fs::write(self.dir.join("blobs/sha256").join(&hex), bytes).unwrap();
        json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
    }

    /// Stores a config and a manifest for `layers`; returns the manifest's descriptor.
    fn image(&self, layers: Vec<serde_json::Value>) -> serde_json::Value {
        let config = self.blob(
            "application/vnd.oci.image.config.v1+json",
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
        );
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": config,
            "layers": layers,
        });
        self.blob(MANIFEST, manifest.to_string().as_bytes())
    }

    fn index(&self, manifests: Vec<serde_json::Value>) {
        let index = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests});
        fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

fn with_ref(mut desc: serde_json::Value, name: &str) -> serde_json::Value {
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    desc
}

fn three_layers(layout: &Layout) -> serde_json::Value {
    let mut l1 = RawTar::default();
    l1.dir("./")
        .dir("etc")
        .file("etc/a", b"a")
        .file("etc/b", b"b")
        .dir("opt/keep")
        .file("opt/keep/old", b"old")
        .dir("opt/keep/sub")
        .file("opt/keep/sub/deep", b"deep")
        .dir("usr/lib")
        .file("usr/lib/libold", b"old")
        .dir("var")
        .file("var/gone", b"gone")
        .add(E {
            path: b"home/u/f",
            uid: 1000,
            gid: 1000,
            data: b"f",
            ..E::default()
        });
    let mut l2 = RawTar::default();
    l2.file("etc/.wh.a", b"")
        // Written before its directory's opaque marker: the marker must spare it.
        .file("opt/keep/new", b"new")
        .file("opt/keep/.wh..wh..opq", b"")
        .file(".wh.var", b"")
        .file("etc/c", b"c")
        // A whiteout with `..` is skipped, not applied above the tree.
        .file("../.wh.etc", b"");
    let mut l3 = RawTar::default();
    l3.file("usr/lib/.wh.libold", b"")
        .file("usr/lib/libnew", b"new")
        // A whiteout of an entry of its own layer hides nothing.
        .file("etc/d", b"d")
        .file("etc/.wh.d", b"");
    layout.image(vec![
        layout.blob(LAYER_GZIP, &gzip(&l1.finish())),
        layout.blob(LAYER_ZSTD, &zstd(&l2.finish())),
        layout.blob(LAYER_TAR, &l3.finish()),
    ])
}

fn find_whiteouts(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().starts_with(".wh.") {
            found.push(entry.path());
        }
        if entry.file_type().unwrap().is_dir() {
            find_whiteouts(&entry.path(), found);
        }
    }
}

#[test]
fn layers_apply_in_order_with_whiteouts() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let layout = Layout::new(&tmp.path().join("image"));
    let manifest = three_layers(&layout);
    layout.index(vec![manifest.clone()]);
    let dir = tmp.path().join("rootfs");
    let report = json(&["unpack", layout.dir.to_str().unwrap(), dir.to_str().unwrap()]);
    assert_eq!(report["format"], "oci");
    assert_eq!(report["layers"], 3);
    assert_eq!(report["manifest"], manifest["digest"]);

    assert!(!dir.join("etc/a").exists(), "whiteout .wh.a");
    assert_eq!(fs::read(dir.join("etc/b")).unwrap(), b"b");
    assert_eq!(fs::read(dir.join("etc/c")).unwrap(), b"c");
    assert_eq!(fs::read(dir.join("etc/d")).unwrap(), b"d");
    let mut keep: Vec<String> = fs::read_dir(dir.join("opt/keep"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    keep.sort();
    assert_eq!(
        keep,
        vec!["new"],
        "the opaque directory keeps only its own layer's entries"
    );
    assert!(!dir.join("var").exists(), "whiteout of a directory");
    assert!(!dir.join("usr/lib/libold").exists());
    assert_eq!(fs::read(dir.join("usr/lib/libnew")).unwrap(), b"new");
    assert_eq!(owner(&dir.join("home/u/f")), (1000, 1000));
    assert!(dir.join("etc").is_dir(), "a `..` whiteout must not remove etc");
    let skipped = report["skipped"].to_string();
    assert!(skipped.contains("../.wh.etc"), "{skipped}");
    let mut whiteouts = Vec::new();
    find_whiteouts(&dir, &mut whiteouts);
    assert!(whiteouts.is_empty(), "whiteout files were written: {whiteouts:?}");
    assert_eq!(report["whiteouts"], 4);

    // The same layout, shifted as it is unpacked.
    let shifted = tmp.path().join("shifted");
    json(&[
        "unpack",
        "--shift",
        "0:200000:65536",
        layout.dir.to_str().unwrap(),
        shifted.to_str().unwrap(),
    ]);
    assert_eq!(owner(&shifted.join("home/u/f")), (201000, 201000));
    assert_eq!(owner(&shifted.join("etc/b")), (200000, 200000));
}

#[test]
fn blobs_are_checked_before_anything_is_written() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let layout = Layout::new(&tmp.path().join("image"));
    let mut t = RawTar::default();
    t.file("hello", b"hello");
    let layer = layout.blob(LAYER_TAR, &t.finish());
    let manifest = layout.image(vec![layer.clone()]);
    layout.index(vec![manifest]);

    // A corrupted layer: refused by digest, and DIR is not even made.
    let hex = layer["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let blob = layout.dir.join("blobs/sha256").join(&hex);
    let mut bytes = fs::read(&blob).unwrap();
    bytes[0] ^= 0xff;
    fs::write(&blob, &bytes).unwrap();
    let dir = tmp.path().join("rootfs");
    let err = unpack(&layout.dir, &dir, &UnpackOptions::default()).unwrap_err();
    assert!(
        matches!(err, RootfsError::DigestMismatch { what: "digest", .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&hex));
    assert!(!dir.exists());

    // A blob that is a symlink to a host file is never followed.
    fs::remove_file(&blob).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", &blob).unwrap();
    let err = unpack(&layout.dir, &dir, &UnpackOptions::default()).unwrap_err();
    assert!(err.to_string().contains(&hex), "{err}");
    assert!(!dir.exists());

    // Not a layout at all.
    let err = unpack(tmp.path(), &dir, &UnpackOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not an OCI image layout"), "{err}");
}

#[test]
fn images_are_chosen_by_ref_through_nested_indexes() {
    if !root() {
        return;
    }
    let tmp = scratch();
    let layout = Layout::new(&tmp.path().join("image"));
    let image = |name: &str| {
        let mut t = RawTar::default();
        t.file("which", name.as_bytes());
        layout.image(vec![layout.blob(LAYER_TAR, &t.finish())])
    };
    let a = image("a");
    // "b" is an index of its own (a multi-platform image) holding one manifest.
    let mut b_manifest = image("b");
    b_manifest["platform"] = json!({"architecture": "amd64", "os": "linux"});
    let nested = json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [b_manifest]});
    let b = layout.blob(INDEX, nested.to_string().as_bytes());
    layout.index(vec![with_ref(a, "a"), with_ref(b, "b")]);

    let dir = tmp.path().join("none");
    let err = unpack(&layout.dir, &dir, &UnpackOptions::default()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("--ref") && text.contains("a, b"), "{text}");

    for name in ["a", "b"] {
        let dir = tmp.path().join(name);
        let out = json(&[
            "unpack",
            "--ref",
            name,
            layout.dir.to_str().unwrap(),
            dir.to_str().unwrap(),
        ]);
        assert_eq!(out["layers"], 1);
        assert_eq!(fs::read(dir.join("which")).unwrap(), name.as_bytes());
    }
    let err = unpack(
        &layout.dir,
        &tmp.path().join("c"),
        &UnpackOptions {
            reference: Some("c".into()),
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("no image `c`"), "{err}");
}
