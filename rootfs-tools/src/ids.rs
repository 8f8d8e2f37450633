//! Id arithmetic shared by `unpack --shift`, `shift` and `check`: a shift by offset, the id
//! modes a tree may have to serve, and compact id ranges for reports.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use libjail::idmap::{IdMap, IdMapEntry, SLOT_SIZE};
use serde::Serialize;

use crate::RootfsError;

/// Moves ids `from..from+count` to `to..to+count`; every other id stays where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdShift {
    /// First id of the source range.
    pub from: u32,
    /// First id of the target range.
    pub to: u32,
    /// How many ids the ranges hold.
    pub count: u32,
}

impl IdShift {
    /// A shift, checked: non-empty, both ranges within 0..=4294967294.
    pub fn new(from: u32, to: u32, count: u32) -> Result<IdShift, RootfsError> {
        let usage = |reason: String| RootfsError::Usage { task: "shift", reason };
        if count == 0 {
            return Err(usage("the id count must be at least 1".into()));
        }
        for (name, start) in [("source", from), ("target", to)] {
            if u64::from(start) + u64::from(count) > u64::from(u32::MAX) {
                return Err(usage(format!(
                    "the {name} range {start}..{} runs past id 4294967294",
                    u64::from(start) + u64::from(count) - 1
                )));
            }
        }
        Ok(IdShift { from, to, count })
    }

    /// The same shift the other way round.
    pub fn reversed(self) -> IdShift {
        IdShift {
            from: self.to,
            to: self.from,
            count: self.count,
        }
    }

    /// Whether the two ranges share an id (shifting such a tree twice would move some ids twice).
    pub fn overlaps(self) -> bool {
        let (a, b) = (u64::from(self.from), u64::from(self.to));
        let n = u64::from(self.count);
        a < b + n && b < a + n
    }

    /// Whether `id` is in the source range.
    pub fn in_source(self, id: u32) -> bool {
        id.checked_sub(self.from).is_some_and(|d| d < self.count)
    }

    /// Whether `id` is in the target range.
    pub fn in_target(self, id: u32) -> bool {
        id.checked_sub(self.to).is_some_and(|d| d < self.count)
    }

    /// The shifted id, or `None` when `id` is outside the source range.
    pub fn map(self, id: u32) -> Option<u32> {
        self.in_source(id).then(|| id - self.from + self.to)
    }
}

impl FromStr for IdShift {
    type Err = RootfsError;

    /// `FROM:TO:COUNT`, e.g. `0:100000:65536`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let entry: IdMapEntry = text
            .parse()
            .map_err(|e: libjail::idmap::IdMapError| RootfsError::Usage {
                task: "shift",
                reason: e.to_string().replace("INSIDE:OUTSIDE:COUNT", "FROM:TO:COUNT"),
            })?;
        IdShift::new(entry.inside, entry.outside, entry.count)
    }
}

impl fmt::Display for IdShift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.from, self.to, self.count)
    }
}

/// The id mode a tree must serve (DESIGN §5), as `check --ids` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdsMode {
    /// Ids 0..65535 on disk, served through an idmapped mount (the default mode).
    Isolated,
    /// Any id: uid N in the jail is uid N on disk.
    Passthrough,
    /// Ids chowned into BASE..BASE+65535 by `shift`; no idmapped mount needed.
    Shifted(u32),
    /// A custom map: on-disk ids must be host ids the map covers.
    Map(IdMap),
}

impl IdsMode {
    /// The on-disk id ranges `[start, end)` this mode can serve, or `None` for "any id".
    pub fn disk_ranges(&self) -> Option<Vec<(u64, u64)>> {
        match self {
            IdsMode::Passthrough => None,
            IdsMode::Isolated => Some(vec![(0, u64::from(SLOT_SIZE))]),
            IdsMode::Shifted(base) => Some(vec![(u64::from(*base), u64::from(*base) + u64::from(SLOT_SIZE))]),
            IdsMode::Map(map) => Some(
                map.0
                    .iter()
                    .map(|e| (u64::from(e.outside), u64::from(e.outside) + u64::from(e.count)))
                    .collect(),
            ),
        }
    }

    /// Whether on-disk id `id` can be served by this mode.
    pub fn serves(&self, id: u32) -> bool {
        match self.disk_ranges() {
            None => true,
            Some(ranges) => ranges.iter().any(|&(a, b)| (a..b).contains(&u64::from(id))),
        }
    }

    /// Whether the runtime serves this mode through an idmapped mount of the rootfs.
    pub fn needs_idmapped_mount(&self) -> bool {
        matches!(self, IdsMode::Isolated)
    }
}

impl FromStr for IdsMode {
    type Err = RootfsError;

    /// `isolated`, `passthrough`, `shifted:BASE`, or a map `INSIDE:OUTSIDE:COUNT[,...]`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let usage = |reason: String| RootfsError::Usage { task: "check", reason };
        let text = text.trim();
        match text {
            "isolated" => return Ok(IdsMode::Isolated),
            "passthrough" => return Ok(IdsMode::Passthrough),
            _ => {}
        }
        if let Some(base) = text.strip_prefix("shifted:") {
            let base: u32 = base
                .parse()
                .map_err(|_| usage(format!("shifted:BASE needs a numeric BASE, not `{base}`")))?;
            if u64::from(base) + u64::from(SLOT_SIZE) > u64::from(u32::MAX) {
                return Err(usage(format!("shifted:{base} runs past id 4294967294")));
            }
            return Ok(IdsMode::Shifted(base));
        }
        if text.contains(':') || text.split_whitespace().count() == 3 {
            let entries = text
                .split(',')
                .map(str::parse)
                .collect::<Result<Vec<IdMapEntry>, _>>()
                .map_err(|e| usage(e.to_string()))?;
            let map = IdMap(entries);
            map.validate().map_err(|e| usage(e.to_string()))?;
            return Ok(IdsMode::Map(map));
        }
        Err(usage(format!(
            "unknown id mode `{text}`: give isolated, passthrough, shifted:BASE or a map such as 0:100000:65536"
        )))
    }
}

impl fmt::Display for IdsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdsMode::Isolated => f.write_str("isolated"),
            IdsMode::Passthrough => f.write_str("passthrough"),
            IdsMode::Shifted(base) => write!(f, "shifted:{base}"),
            IdsMode::Map(map) => write!(f, "{}", map.to_string().replace(", ", ",")),
        }
    }
}

/// A run of consecutive ids and how many entries own one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IdRange {
    /// First id.
    pub first: u32,
    /// Last id (inclusive).
    pub last: u32,
    /// Entries owned by an id of the run.
    pub entries: u64,
}

/// Folds per-id counts into runs of consecutive ids.
pub fn ranges(counts: &BTreeMap<u32, u64>) -> Vec<IdRange> {
    let mut out: Vec<IdRange> = Vec::new();
    for (&id, &n) in counts {
        match out.last_mut() {
            Some(run) if run.last.checked_add(1) == Some(id) => {
                run.last = id;
                run.entries += n;
            }
            _ => out.push(IdRange {
                first: id,
                last: id,
                entries: n,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_maps_only_the_source_range() {
        let s: IdShift = "0:100000:65536".parse().unwrap();
        assert_eq!(s.map(0), Some(100000));
        assert_eq!(s.map(65535), Some(165535));
        assert_eq!(s.map(65536), None);
        assert_eq!(s.reversed().map(100000), Some(0));
        assert_eq!(s.reversed().map(99999), None);
        assert!(!s.overlaps());
        assert!(IdShift::new(0, 1000, 65536).unwrap().overlaps());
        let s = IdShift::new(1000, 0, 10).unwrap();
        assert_eq!(s.map(999), None);
        assert_eq!(s.map(1009), Some(9));
        assert!(IdShift::new(0, u32::MAX - 5, 10).is_err());
        assert!(
            "0:1"
                .parse::<IdShift>()
                .unwrap_err()
                .to_string()
                .contains("FROM:TO:COUNT")
        );
    }

    #[test]
    fn modes_parse_and_serve() {
        assert_eq!("isolated".parse::<IdsMode>().unwrap(), IdsMode::Isolated);
        let shifted: IdsMode = "shifted:100000".parse().unwrap();
        assert!(shifted.serves(100000) && shifted.serves(165535) && !shifted.serves(0));
        assert!(IdsMode::Isolated.serves(65535) && !IdsMode::Isolated.serves(65536));
        assert!(IdsMode::Passthrough.serves(4_000_000_000));
        let map: IdsMode = "0:200000:1000,1000:1000:1".parse().unwrap();
        assert!(map.serves(200999) && map.serves(1000) && !map.serves(0));
        assert_eq!(map.to_string(), "0:200000:1000,1000:1000:1");
        assert!("bogus".parse::<IdsMode>().is_err());
        assert!("shifted:x".parse::<IdsMode>().is_err());
    }

    #[test]
    fn ranges_fold_consecutive_ids() {
        let counts = BTreeMap::from([(0, 5), (1, 1), (2, 1), (1000, 3), (65534, 1)]);
        let r = ranges(&counts);
        assert_eq!(
            r,
            vec![
                IdRange {
                    first: 0,
                    last: 2,
                    entries: 7
                },
                IdRange {
                    first: 1000,
                    last: 1000,
                    entries: 3
                },
                IdRange {
                    first: 65534,
                    last: 65534,
                    entries: 1
                },
            ]
        );
    }
}
