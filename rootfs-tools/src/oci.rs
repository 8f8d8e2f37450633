//! Reading an OCI image layout (as `skopeo copy … oci:DIR` or `umoci` write it): `oci-layout`,
//! `index.json` → (nested indexes →) a manifest → its layers, in order.
//!
//! Every blob is opened beneath the layout directory without following a symlink, and its size
//! and digest are checked against its descriptor before anything is unpacked from it.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use oci_spec::image::{Descriptor, DigestAlgorithm, ImageIndex, ImageManifest, MediaType};
use rustix::fs::{CWD, Mode, OFlags, ResolveFlags};

use crate::RootfsError;

const TASK: &str = "unpack";

/// The annotation that names an image in an index.
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Largest index or manifest read into memory.
const MAX_JSON: u64 = 8 << 20;

/// How deep nested indexes may go.
const MAX_DEPTH: usize = 4;

/// How a layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
    /// Not said by the media type: look at the first bytes.
    Sniff,
}

/// A verified layer, ready to read from its start.
pub(crate) struct Layer {
    /// The blob's path, for messages.
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) compression: Compression,
    pub(crate) file: File,
}

/// The chosen image's layers, each checked against its digest.
pub(crate) struct Image {
    /// The manifest's digest.
    pub(crate) manifest: String,
    pub(crate) layers: Vec<Layer>,
}

struct Layout {
    path: PathBuf,
    fd: OwnedFd,
}

/// Opens the layout at `path` and verifies the layers of the image `reference` names (or of the
/// only image, or of the one for this platform).
pub(crate) fn open(path: &Path, reference: Option<&str>) -> Result<Image, RootfsError> {
    let invalid = |reason: String| RootfsError::Invalid {
        task: TASK,
        path: path.to_path_buf(),
        reason,
    };
    let fd = rustix::fs::openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| RootfsError::Io {
        task: TASK,
        step: "open",
        path: path.to_path_buf(),
        error: e.into(),
    })?;
    let layout = Layout {
        path: path.to_path_buf(),
        fd,
    };
    let marker = layout
        .read_json_file("oci-layout")
        .map_err(|e| invalid(format!("not an OCI image layout: oci-layout: {e}")))?;
    let version: serde_json::Value =
        serde_json::from_slice(&marker).map_err(|e| invalid(format!("oci-layout: {e}")))?;
    if version.get("imageLayoutVersion").and_then(|v| v.as_str()).is_none() {
        return Err(invalid("oci-layout has no imageLayoutVersion".into()));
    }
    let index = layout
        .read_json_file("index.json")
        .map_err(|e| invalid(format!("index.json: {e}")))?;
    let index = ImageIndex::from_reader(&index[..]).map_err(|e| invalid(format!("index.json: {e}")))?;

    let mut descriptor = pick(&index, reference, "index.json").map_err(invalid)?;
    let mut depth = 0;
    let manifest = loop {
        match descriptor.media_type() {
            MediaType::ImageIndex => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(invalid(format!("indexes nested more than {MAX_DEPTH} deep")));
                }
                let bytes = layout.read_blob_json(&descriptor)?;
                let nested = ImageIndex::from_reader(&bytes[..])
                    .map_err(|e| invalid(format!("index {}: {e}", descriptor.digest())))?;
                descriptor = pick(&nested, None, descriptor.digest().as_ref()).map_err(invalid)?;
            }
            MediaType::ImageManifest => break descriptor,
            MediaType::Other(t) if t == "application/vnd.docker.distribution.manifest.v2+json" => break descriptor,
            other => {
                return Err(invalid(format!(
                    "{} has media type {other}, not an image manifest or index",
                    descriptor.digest()
                )));
            }
        }
    };
    let bytes = layout.read_blob_json(&manifest)?;
    let parsed =
        ImageManifest::from_reader(&bytes[..]).map_err(|e| invalid(format!("manifest {}: {e}", manifest.digest())))?;

    let mut layers = Vec::new();
    for desc in parsed.layers() {
        let compression = match desc.media_type() {
            MediaType::ImageLayer | MediaType::ImageLayerNonDistributable => Compression::None,
            MediaType::ImageLayerGzip | MediaType::ImageLayerNonDistributableGzip => Compression::Gzip,
            MediaType::ImageLayerZstd | MediaType::ImageLayerNonDistributableZstd => Compression::Zstd,
            MediaType::Other(t) if t.starts_with("application/vnd.docker.image.rootfs.") => Compression::Sniff,
            other => {
                return Err(invalid(format!(
                    "layer {} has media type {other}, not a filesystem layer",
                    desc.digest()
                )));
            }
        };
        let (file, blob) = layout.open_verified(desc)?;
        layers.push(Layer {
            path: blob,
            size: desc.size(),
            compression,
            file,
        });
    }
    Ok(Image {
        manifest: manifest.digest().to_string(),
        layers,
    })
}

/// The descriptor of `index` to use: the one `reference` names, the only one, or the only one
/// for this platform.
fn pick(index: &ImageIndex, reference: Option<&str>, what: &str) -> Result<Descriptor, String> {
    let manifests = index.manifests();
    let name = |d: &Descriptor| d.annotations().as_ref().and_then(|a| a.get(REF_NAME)).cloned();
    let names = || {
        let list: Vec<String> = manifests.iter().filter_map(name).collect();
        if list.is_empty() {
            "none has a ref name".to_string()
        } else {
            format!("it has {}", list.join(", "))
        }
    };
    if let Some(reference) = reference {
        return manifests
            .iter()
            .find(|d| name(d).as_deref() == Some(reference))
            .cloned()
            .ok_or_else(|| format!("{what} names no image `{reference}` ({})", names()));
    }
    match manifests.len() {
        0 => return Err(format!("{what} lists no image")),
        1 => return Ok(manifests[0].clone()),
        _ => {}
    }
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let here: Vec<&Descriptor> = manifests
        .iter()
        .filter(|d| {
            d.platform()
                .as_ref()
                .is_some_and(|p| p.os().to_string() == "linux" && p.architecture().to_string() == arch)
        })
        .collect();
    match here.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(format!(
            "{what} lists {} images; pick one with --ref ({})",
            manifests.len(),
            names()
        )),
    }
}

impl Layout {
    /// Opens `rel` beneath the layout, never through a symlink.
    fn open_file(&self, rel: &Path) -> io::Result<File> {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::openat2(self.fd.as_fd(), rel, flags, Mode::empty(), resolve)?;
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(io::Error::other("not a regular file"));
        }
        Ok(file)
    }

    fn read_json_file(&self, name: &str) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_file(Path::new(name))?
            .take(MAX_JSON + 1)
            .read_to_end(&mut bytes)?;
        if bytes.len() as u64 > MAX_JSON {
            return Err(io::Error::other(format!("larger than {MAX_JSON} bytes")));
        }
        Ok(bytes)
    }

    /// Reads a small (JSON) blob after checking its size and digest.
    fn read_blob_json(&self, desc: &Descriptor) -> Result<Vec<u8>, RootfsError> {
        if desc.size() > MAX_JSON {
            return Err(RootfsError::Invalid {
                task: TASK,
                path: self.path.clone(),
                reason: format!(
                    "{} is {} bytes, more than a manifest may be",
                    desc.digest(),
                    desc.size()
                ),
            });
        }
        let (mut file, path) = self.open_verified(desc)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|error| RootfsError::Io {
            task: TASK,
            step: "read",
            path,
            error,
        })?;
        Ok(bytes)
    }

    /// Opens the blob `desc` names and checks its size and digest; returns it rewound.
    fn open_verified(&self, desc: &Descriptor) -> Result<(File, PathBuf), RootfsError> {
        let digest = desc.digest();
        let algorithm = digest.algorithm();
        // oci-spec has checked the digest's syntax (no `/`, no `..`): it is safe as a path.
        let rel = PathBuf::from("blobs").join(algorithm.as_ref()).join(digest.digest());
        let path = self.path.join(&rel);
        let io_err = |step, error| RootfsError::Io {
            task: TASK,
            step,
            path: path.clone(),
            error,
        };
        let mut file = self.open_file(&rel).map_err(|e| io_err("open", e))?;
        let (found, size) = match algorithm {
            DigestAlgorithm::Sha256 => hash::<sha2::Sha256>(&mut file),
            DigestAlgorithm::Sha384 => hash::<sha2::Sha384>(&mut file),
            DigestAlgorithm::Sha512 => hash::<sha2::Sha512>(&mut file),
            other => {
                return Err(RootfsError::Invalid {
                    task: TASK,
                    path,
                    reason: format!("digest algorithm {other} is not supported (sha256, sha384, sha512 are)"),
                });
            }
        }
        .map_err(|e| io_err("read", e))?;
        if size != desc.size() {
            return Err(RootfsError::DigestMismatch {
                path,
                what: "size",
                expected: desc.size().to_string(),
                found: size.to_string(),
            });
        }
        if found != digest.digest() {
            return Err(RootfsError::DigestMismatch {
                path,
                what: "digest",
                expected: digest.to_string(),
                found: format!("{algorithm}:{found}"),
            });
        }
        file.seek(SeekFrom::Start(0)).map_err(|e| io_err("seek", e))?;
        Ok((file, path))
    }
}

/// The lower-case hex digest of everything `file` holds, and its length.
fn hash<D: sha2::Digest + io::Write>(file: &mut File) -> io::Result<(String, u64)> {
    let mut hasher = D::new();
    let size = io::copy(file, &mut hasher)?;
    let digest = hasher.finalize();
    Ok((digest.iter().map(|b| format!("{b:02x}")).collect(), size))
}
