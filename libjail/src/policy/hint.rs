//! "Did you mean …?" hints: the closest known word by edit distance.

/// The Levenshtein distance between `a` and `b`, counted in characters and
/// ignoring ASCII case.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    // One row of the classic dynamic-programming table at a time.
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != cb);
            row[j + 1] = substitute.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo: at most one edit per three characters (and at least one edit).
pub(crate) fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `did you mean `X`?` for the closest candidate, if any is close.
pub(crate) fn did_you_mean<'a, I>(word: &str, candidates: I) -> Option<String>
where
    I: IntoIterator<Item = &'a str>,
{
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("capabilites", "capabilities"), 1);
        assert_eq!(distance("SYS_ADMN", "sys_admin"), 1);
    }

    #[test]
    fn closest_needs_a_likely_typo() {
        let words = ["capabilities", "hostname", "domainname"];
        assert_eq!(closest("capabilites", words), Some("capabilities"));
        assert_eq!(closest("hostnme", words), Some("hostname"));
        assert_eq!(closest("zzz", words), None);
        assert_eq!(
            did_you_mean("domainame", words).as_deref(),
            Some("did you mean `domainname`?")
        );
    }
}
