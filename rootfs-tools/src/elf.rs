//! Just enough ELF to tell a static executable from a dynamic one.
//!
//! A dynamically linked program carries a `PT_INTERP` program header naming its loader
//! (`/lib64/ld-linux-x86-64.so.2`); a static one (static-pie included) has none. A jail rootfs
//! without libc can only run the static kind.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// `p_type` of the program header that names the dynamic loader.
const PT_INTERP: u32 = 3;
/// Upper bound on the program header table we read (real ones are well under 1 KiB).
const MAX_PHDR_TABLE: u64 = 64 * 1024;
/// Upper bound on the interpreter path we read.
const MAX_INTERP: u64 = 4096;

/// How an ELF file is linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Linkage {
    /// No `PT_INTERP`: runs without a dynamic loader.
    Static,
    /// Needs the named dynamic loader.
    Dynamic { interpreter: String },
}

/// Reads the ELF program headers of the file at `path`.
pub fn linkage(path: &Path) -> io::Result<Linkage> {
    linkage_of(&mut File::open(path)?)
}

/// Reads the ELF program headers from `file`; `InvalidData` when it is not a valid ELF file.
pub fn linkage_of<R: Read + Seek>(file: &mut R) -> io::Result<Linkage> {
    let mut ident = [0u8; 64];
    let got = read_up_to(file, &mut ident)?;
    if got < 16 || &ident[..4] != b"\x7fELF" {
        return Err(invalid("not an ELF file"));
    }
    let layout = match (ident[4], ident[5]) {
        (1, 1) => Layout::new(false, false),
        (1, 2) => Layout::new(false, true),
        (2, 1) => Layout::new(true, false),
        (2, 2) => Layout::new(true, true),
        _ => return Err(invalid("unknown ELF class or byte order")),
    };
    let header = &ident[..got];
    if header.len() < layout.ehsize() {
        return Err(invalid("ELF header truncated"));
    }
    let (phoff, phentsize, phnum) = layout.program_table(header);
    if phnum == 0xffff {
        return Err(invalid("ELF with extended program header count (PN_XNUM)"));
    }
    if phnum == 0 {
        return Ok(Linkage::Static);
    }
    if phentsize < layout.phdr_min() {
        return Err(invalid("ELF program header entry too small"));
    }
    let table_len = phentsize as u64 * phnum as u64;
    if table_len > MAX_PHDR_TABLE {
        return Err(invalid("ELF program header table too large"));
    }
    let mut table = vec![0u8; table_len as usize];
    file.seek(SeekFrom::Start(phoff))?;
    file.read_exact(&mut table)
        .map_err(|_| invalid("ELF program header table truncated"))?;
    for entry in table.chunks_exact(phentsize) {
        let (p_type, offset, size) = layout.phdr(entry);
        if p_type != PT_INTERP {
            continue;
        }
        let mut interp = vec![0u8; size.min(MAX_INTERP) as usize];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut interp)
            .map_err(|_| invalid("ELF interpreter path truncated"))?;
        let end = interp.iter().position(|&b| b == 0).unwrap_or(interp.len());
        let interpreter = String::from_utf8_lossy(&interp[..end]).into_owned();
        return Ok(Linkage::Dynamic { interpreter });
    }
    Ok(Linkage::Static)
}

/// Field offsets for one ELF class and byte order.
struct Layout {
    wide: bool,
    big: bool,
}

impl Layout {
    fn new(wide: bool, big: bool) -> Self {
        Self { wide, big }
    }

    fn ehsize(&self) -> usize {
        if self.wide { 64 } else { 52 }
    }

    fn phdr_min(&self) -> usize {
        if self.wide { 56 } else { 32 }
    }

    /// `(e_phoff, e_phentsize, e_phnum)`.
    fn program_table(&self, h: &[u8]) -> (u64, usize, usize) {
        if self.wide {
            (self.u64(h, 32), self.u16(h, 54), self.u16(h, 56))
        } else {
            (u64::from(self.u32(h, 28)), self.u16(h, 42), self.u16(h, 44))
        }
    }

    /// `(p_type, p_offset, p_filesz)`.
    fn phdr(&self, p: &[u8]) -> (u32, u64, u64) {
        if self.wide {
            (self.u32(p, 0), self.u64(p, 8), self.u64(p, 32))
        } else {
            (self.u32(p, 0), u64::from(self.u32(p, 4)), u64::from(self.u32(p, 16)))
        }
    }

    fn u16(&self, b: &[u8], at: usize) -> usize {
        let raw = [b[at], b[at + 1]];
        (if self.big {
            u16::from_be_bytes(raw)
        } else {
            u16::from_le_bytes(raw)
        }) as usize
    }

    fn u32(&self, b: &[u8], at: usize) -> u32 {
        let raw: [u8; 4] = b[at..at + 4].try_into().expect("4 bytes");
        if self.big {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        }
    }

    fn u64(&self, b: &[u8], at: usize) -> u64 {
        let raw: [u8; 8] = b[at..at + 8].try_into().expect("8 bytes");
        if self.big {
            u64::from_be_bytes(raw)
        } else {
            u64::from_le_bytes(raw)
        }
    }
}

/// Reads until `buf` is full or the file ends; returns how much was read.
fn read_up_to<R: Read>(file: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A minimal little-endian ELF64 file with the given program headers `(type, payload)`.
    fn elf64(phdrs: &[(u32, &[u8])]) -> Vec<u8> {
        let mut out = vec![0u8; 64];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 2; // ELFCLASS64
        out[5] = 1; // little endian
        out[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        out[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        out[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        let mut payload_at = 64 + 56 * phdrs.len();
        let mut payloads = Vec::new();
        for (p_type, payload) in phdrs {
            let mut ph = [0u8; 56];
            ph[..4].copy_from_slice(&p_type.to_le_bytes());
            ph[8..16].copy_from_slice(&(payload_at as u64).to_le_bytes());
            ph[32..40].copy_from_slice(&(payload.len() as u64).to_le_bytes());
            out.extend_from_slice(&ph);
            payloads.extend_from_slice(payload);
            payload_at += payload.len();
        }
        out.extend_from_slice(&payloads);
        out
    }

    /// The same as a big-endian ELF32 file.
    fn elf32_be(phdrs: &[(u32, &[u8])]) -> Vec<u8> {
        let mut out = vec![0u8; 52];
        out[..4].copy_from_slice(b"\x7fELF");
        out[4] = 1; // ELFCLASS32
        out[5] = 2; // big endian
        out[28..32].copy_from_slice(&52u32.to_be_bytes());
        out[42..44].copy_from_slice(&32u16.to_be_bytes());
        out[44..46].copy_from_slice(&(phdrs.len() as u16).to_be_bytes());
        let mut payload_at = 52 + 32 * phdrs.len();
        let mut payloads = Vec::new();
        for (p_type, payload) in phdrs {
            let mut ph = [0u8; 32];
            ph[..4].copy_from_slice(&p_type.to_be_bytes());
            ph[4..8].copy_from_slice(&(payload_at as u32).to_be_bytes());
            ph[16..20].copy_from_slice(&(payload.len() as u32).to_be_bytes());
            out.extend_from_slice(&ph);
            payloads.extend_from_slice(payload);
            payload_at += payload.len();
        }
        out.extend_from_slice(&payloads);
        out
    }

    fn check(bytes: Vec<u8>) -> io::Result<Linkage> {
        linkage_of(&mut Cursor::new(bytes))
    }

    #[test]
    fn no_interp_is_static() {
        assert_eq!(check(elf64(&[(1, b"")])).unwrap(), Linkage::Static);
        assert_eq!(check(elf64(&[])).unwrap(), Linkage::Static);
        assert_eq!(check(elf32_be(&[(1, b""), (2, b"")])).unwrap(), Linkage::Static);
    }

    #[test]
    fn interp_is_dynamic_with_its_path() {
        let bytes = elf64(&[(6, b""), (PT_INTERP, b"/lib/ld.so\0")]);
        assert_eq!(
            check(bytes).unwrap(),
            Linkage::Dynamic {
                interpreter: "/lib/ld.so".into()
            }
        );
        let bytes = elf32_be(&[(PT_INTERP, b"/lib/ld32.so\0")]);
        assert_eq!(
            check(bytes).unwrap(),
            Linkage::Dynamic {
                interpreter: "/lib/ld32.so".into()
            }
        );
    }

    #[test]
    fn garbage_is_invalid_data() {
        for bytes in [b"#!/bin/sh\n".to_vec(), Vec::new(), b"\x7fELF\x02\x01".to_vec()] {
            let err = check(bytes).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        }
        // A program header table that points past the end of the file.
        let mut bytes = elf64(&[(PT_INTERP, b"/lib/ld.so\0")]);
        bytes.truncate(80);
        assert_eq!(check(bytes).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn host_binaries() {
        // /bin/ls is dynamic on every Debian; busybox-static is static when installed.
        assert!(matches!(
            linkage(Path::new("/bin/ls")).unwrap(),
            Linkage::Dynamic { .. }
        ));
        if let Ok(output) = std::process::Command::new("dpkg")
            .args(["-s", "busybox-static"])
            .output()
            && output.status.success()
        {
            assert_eq!(linkage(Path::new("/bin/busybox")).unwrap(), Linkage::Static);
        }
    }
}
