//! One entry point for every way of making a rootfs: [`build_from`] with a [`Source`]
//! (`busybox`, `debootstrap:SUITE`, `tar:PATH`, `oci:PATH[:REF]`), as `jailctl create --from`
//! takes it. A tree built by busybox or debootstrap is shifted afterwards when asked; a tarball
//! or layout is shifted as it is unpacked.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::RootfsError;
use crate::busybox::{self, BusyboxOptions, BusyboxReport};
use crate::debootstrap::{self, DebootstrapOptions, DebootstrapReport};
use crate::ids::IdShift;
use crate::shift::{self, ShiftOptions, ShiftReport};
use crate::unpack::{self, UnpackOptions, UnpackReport};

/// Where a rootfs comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The host's static busybox.
    Busybox,
    /// Debian `SUITE` through debootstrap.
    Debootstrap { suite: String },
    /// A tarball (tar, tar.gz, tar.xz, tar.zst).
    Tar(PathBuf),
    /// An OCI image layout, optionally the image `reference` names.
    Oci { layout: PathBuf, reference: Option<String> },
}

impl FromStr for Source {
    type Err = RootfsError;

    /// `busybox`, `debootstrap:SUITE`, `tar:PATH`, `oci:PATH` or `oci:PATH:REF` (the part
    /// after the last `:` is a ref when it holds no `/`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = |reason: String| RootfsError::Usage { task: "build", reason };
        let (kind, rest) = text.split_once(':').unwrap_or((text, ""));
        let need = |what: &str| {
            if rest.is_empty() {
                Err(usage(format!(
                    "`{kind}:` needs a {what}, e.g. {kind}:{}",
                    example(kind)
                )))
            } else {
                Ok(())
            }
        };
        match kind {
            "busybox" if rest.is_empty() => Ok(Source::Busybox),
            "debootstrap" => {
                need("suite")?;
                Ok(Source::Debootstrap {
                    suite: rest.to_string(),
                })
            }
            "tar" => {
                need("path")?;
                Ok(Source::Tar(PathBuf::from(rest)))
            }
            "oci" => {
                need("path")?;
                let (layout, reference) = match rest.rsplit_once(':') {
                    Some((layout, r)) if !r.is_empty() && !r.contains('/') && !layout.is_empty() => {
                        (layout, Some(r.to_string()))
                    }
                    _ => (rest, None),
                };
                Ok(Source::Oci {
                    layout: PathBuf::from(layout),
                    reference,
                })
            }
            _ => Err(usage(format!(
                "unknown source `{text}`: give busybox, debootstrap:SUITE, tar:PATH or oci:PATH[:REF]"
            ))),
        }
    }
}

fn example(kind: &str) -> &'static str {
    match kind {
        "debootstrap" => "bookworm",
        "tar" => "/srv/images/alpine.tar.gz",
        _ => "/srv/images/alpine:latest",
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Busybox => f.write_str("busybox"),
            Source::Debootstrap { suite } => write!(f, "debootstrap:{suite}"),
            Source::Tar(path) => write!(f, "tar:{}", path.display()),
            Source::Oci {
                layout,
                reference: None,
            } => write!(f, "oci:{}", layout.display()),
            Source::Oci {
                layout,
                reference: Some(r),
            } => write!(f, "oci:{}:{r}", layout.display()),
        }
    }
}

/// How to build, whatever the source (each source uses what applies to it).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Shift the tree into a jail's id range (shifted mode) as or after it is built.
    pub shift: Option<IdShift>,
    /// Progress on a terminal.
    pub progress: bool,
    /// busybox: build over a non-empty directory.
    pub force: bool,
    /// busybox: the binary to copy.
    pub busybox: Option<PathBuf>,
    /// tar/oci: unpack into a temporary directory and rename it into place at the end.
    pub atomic: bool,
    /// tar/oci: make device nodes.
    pub devices: bool,
    /// debootstrap: the variant (default minbase).
    pub variant: Option<String>,
    /// debootstrap: the archive.
    pub mirror: Option<String>,
    /// debootstrap: extra packages.
    pub include: Vec<String>,
    /// debootstrap: the jail's hostname (default `jail`).
    pub hostname: Option<String>,
}

/// What one source built.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Built {
    Busybox(BusyboxReport),
    Debootstrap(DebootstrapReport),
    Unpack(UnpackReport),
}

/// What [`build_from`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The source, as `Source` displays it.
    pub source: String,
    /// The rootfs, absolute.
    pub dir: PathBuf,
    pub built: Built,
    /// The shift applied after building (busybox, debootstrap).
    pub shift: Option<ShiftReport>,
}

/// Builds the rootfs `dir` from `source`.
pub fn build_from(source: &Source, dir: &Path, opts: &BuildOptions) -> Result<Report, RootfsError> {
    let built = match source {
        Source::Busybox => Built::Busybox(busybox::build(&BusyboxOptions {
            dir: dir.to_path_buf(),
            force: opts.force,
            busybox: opts.busybox.clone(),
        })?),
        Source::Debootstrap { suite } => {
            let mut d = DebootstrapOptions::new(suite, dir);
            if let Some(variant) = &opts.variant {
                d.variant = variant.clone();
            }
            d.mirror = opts.mirror.clone();
            d.include = opts.include.clone();
            if let Some(hostname) = &opts.hostname {
                d.hostname = hostname.clone();
            }
            d.progress = opts.progress;
            Built::Debootstrap(debootstrap::build(&d)?)
        }
        Source::Tar(path) | Source::Oci { layout: path, .. } => {
            let reference = match source {
                Source::Oci { reference, .. } => reference.clone(),
                _ => None,
            };
            if matches!(source, Source::Tar(_)) && path.is_dir() {
                return Err(RootfsError::Usage {
                    task: "build",
                    reason: format!(
                        "tar:{} is a directory; use oci:PATH for an image layout",
                        path.display()
                    ),
                });
            }
            Built::Unpack(unpack::unpack(
                path,
                dir,
                &UnpackOptions {
                    atomic: opts.atomic,
                    devices: opts.devices,
                    shift: opts.shift,
                    reference,
                    progress: opts.progress,
                },
            )?)
        }
    };
    let dir = match &built {
        Built::Busybox(r) => r.dir.clone(),
        Built::Debootstrap(r) => r.dir.clone(),
        Built::Unpack(r) => r.dir.clone(),
    };
    let shift = match (&built, opts.shift) {
        (Built::Busybox(_) | Built::Debootstrap(_), Some(shift)) => Some(shift::shift(
            &dir,
            &ShiftOptions {
                shift,
                reverse: false,
                dry_run: false,
                force: false,
                progress: opts.progress,
            },
        )?),
        _ => None,
    };
    Ok(Report {
        source: source.to_string(),
        dir,
        built,
        shift,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse() {
        assert_eq!("busybox".parse::<Source>().unwrap(), Source::Busybox);
        assert_eq!(
            "debootstrap:bookworm".parse::<Source>().unwrap(),
            Source::Debootstrap {
                suite: "bookworm".into()
            }
        );
        assert_eq!(
            "tar:/a/b.tar.gz".parse::<Source>().unwrap(),
            Source::Tar("/a/b.tar.gz".into())
        );
        assert_eq!(
            "oci:/img/alpine:3.19".parse::<Source>().unwrap(),
            Source::Oci {
                layout: "/img/alpine".into(),
                reference: Some("3.19".into())
            }
        );
        assert_eq!(
            "oci:./x:y/z".parse::<Source>().unwrap(),
            Source::Oci {
                layout: "./x:y/z".into(),
                reference: None
            }
        );
        for bad in ["tar:", "debootstrap", "zip:/x", "busybox:x"] {
            assert!(bad.parse::<Source>().is_err(), "{bad}");
        }
        for text in ["busybox", "debootstrap:trixie", "tar:/x.tar", "oci:/l:latest"] {
            assert_eq!(text.parse::<Source>().unwrap().to_string(), text);
        }
    }
}
