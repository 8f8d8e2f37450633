//! Id map extents through `IdMapEntry::from_str`, and maps through `IdMap::validate`. A map
//! that validates is checked here independently: 1 to 340 extents, none empty, none past id
//! 4294967294 on either side, no two sharing an id on either side; and its lookups are a
//! bijection between the extents' two sides.
//!
//! Input: text, one extent per line (`INSIDE:OUTSIDE:COUNT` or `INSIDE OUTSIDE COUNT`); or,
//! when the first byte is 0xff, raw little-endian `u32` triples, to reach the checks of
//! `validate` without the parser in the way.

#![no_main]

use libfuzzer_sys::fuzz_target;
use libjail::idmap::{IdMap, IdMapEntry, MAX_EXTENTS};

fn check_entry_text(line: &str) {
    if let Ok(e) = line.parse::<IdMapEntry>() {
        let shown = e.to_string();
        assert_eq!(shown.parse::<IdMapEntry>().ok(), Some(e), "{line:?} -> {shown:?}");
        let proc = format!("{} {} {}", e.inside, e.outside, e.count);
        assert_eq!(proc.parse::<IdMapEntry>().ok(), Some(e), "{line:?} -> {proc:?}");
        // Only plain digits: no sign, no other character than digits, separators, blanks.
        assert!(
            line.chars().all(|c| c.is_ascii_digit() || c == ':' || c.is_whitespace()),
            "{line:?} parsed as {e}"
        );
    }
}

fn check_map(map: &IdMap) {
    let valid = map.validate().is_ok();
    let n = map.0.len();
    let fits = |e: &IdMapEntry| {
        e.count > 0
            && u64::from(e.inside) + u64::from(e.count) <= u64::from(u32::MAX)
            && u64::from(e.outside) + u64::from(e.count) <= u64::from(u32::MAX)
    };
    // Independent overlap check: sort each side's intervals and compare neighbours.
    let disjoint = |side: &dyn Fn(&IdMapEntry) -> u32| {
        let mut v: Vec<(u64, u64)> = map
            .0
            .iter()
            .map(|e| (u64::from(side(e)), u64::from(side(e)) + u64::from(e.count)))
            .collect();
        v.sort_unstable();
        v.windows(2).all(|w| w[0].1 <= w[1].0)
    };
    let expected = (1..=MAX_EXTENTS).contains(&n)
        && map.0.iter().all(fits)
        && disjoint(&|e| e.inside)
        && disjoint(&|e| e.outside);
    assert_eq!(valid, expected, "validate says {valid} for {map:?}");
    if !valid {
        return;
    }
    let proc = map.to_proc();
    let reread: Vec<IdMapEntry> = proc.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(&reread, &map.0, "to_proc does not read back");
    for e in &map.0 {
        let last = e.count - 1;
        for off in [0, last / 2, last] {
            let inside = e.inside + off;
            let outside = e.outside + off;
            assert_eq!(map.to_host(inside), Some(outside), "{map:?}: to_host({inside})");
            assert_eq!(map.to_inside(outside), Some(inside), "{map:?}: to_inside({outside})");
        }
    }
    // is_identity against a direct definition: every extent maps to itself and they cover
    // 0..=4294967294 (which, disjoint, means their counts sum to 4294967295).
    let identity = map.0.iter().all(|e| e.inside == e.outside)
        && map.0.iter().map(|e| u64::from(e.count)).sum::<u64>() == u64::from(u32::MAX);
    assert_eq!(map.is_identity(), identity, "is_identity of {map:?}");
}

fuzz_target!(|data: &[u8]| {
    if let Some((&0xff, raw)) = data.split_first() {
        let entries = raw
            .chunks_exact(12)
            .map(|c| {
                let word = |i: usize| u32::from_le_bytes(c[i..i + 4].try_into().unwrap());
                IdMapEntry {
                    inside: word(0),
                    outside: word(4),
                    count: word(8),
                }
            })
            .collect();
        check_map(&IdMap(entries));
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut entries = Vec::new();
    for line in text.split('\n') {
        check_entry_text(line);
        if let Ok(e) = line.parse::<IdMapEntry>() {
            entries.push(e);
        }
    }
    check_map(&IdMap(entries));
});
