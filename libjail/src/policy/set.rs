//! `--set KEY=VALUE`: one command-line override, read as a layer.
//!
//! KEY is a dotted path of plain segments and VALUE is YAML. The layer is
//! built as the YAML document
//!
//! ```yaml
//! "capabilities":
//!   "allow":
//!     [SYS_ADMIN]
//! ```
//!
//! and read like a file, so the same checks apply. KEY is checked before it
//! is used (segments of `[a-z_]`, or `[A-Za-z0-9_]` for the variable or
//! limit name under `env` and `rlimits`) and every line of VALUE is indented
//! below the last key, so VALUE can only ever be that key's value: YAML
//! nests by indentation, and VALUE may not hold the other characters YAML
//! takes as line breaks.

use serde::de::IgnoredAny;

use super::PolicyError;
use super::layer::{Layer, YamlProblem, from_yaml};

/// Top-level keys whose next segment is a map key chosen by the user.
const MAP_KEYS: &[&str] = &["env", "rlimits"];

/// Top-level keys that only make sense in a file.
const FILE_ONLY: &[&str] = &["version", "extends"];

/// Reads one `--set KEY=VALUE` argument as a layer.
pub(super) fn parse_set(arg: &str) -> Result<Layer, PolicyError> {
    let bad = |reason: String| PolicyError::BadSet {
        arg: arg.to_string(),
        reason,
    };
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected KEY=VALUE, e.g. rootfs.readonly=true".to_string()))?;
    let segments = check_key(key).map_err(bad)?;
    check_value(value).map_err(bad)?;

    let mut doc = String::new();
    for (depth, segment) in segments.iter().enumerate() {
        doc.push_str(&"  ".repeat(depth));
        doc.push_str(&format!("\"{segment}\":\n"));
    }
    let indent = "  ".repeat(segments.len());
    if value.is_empty() {
        // An empty VALUE means the empty string, not YAML's null.
        doc.push_str(&format!("{indent}\"\"\n"));
    } else {
        for line in value.split('\n') {
            doc.push_str(&indent);
            doc.push_str(line);
            doc.push('\n');
        }
    }
    from_yaml::<Layer>(&doc).map_err(|err| bad(YamlProblem::from(&err).with_hint()))
}

/// Splits KEY into its segments, refusing anything but plain names.
fn check_key(key: &str) -> Result<Vec<&str>, String> {
    let segments: Vec<&str> = key.split('.').collect();
    let top = segments[0];
    if FILE_ONLY.contains(&top) {
        return Err(format!("`{top}` can only be given in a policy file"));
    }
    let in_map = MAP_KEYS.contains(&top);
    if in_map && segments.len() != 2 {
        return Err(format!("`{top}` takes one name: {top}.NAME=VALUE, e.g. env.TERM=xterm"));
    }
    for (i, segment) in segments.iter().enumerate() {
        let map_key = in_map && i == 1;
        let ok = !segment.is_empty()
            && segment.bytes().all(|b| {
                if map_key {
                    b.is_ascii_alphanumeric() || b == b'_'
                } else {
                    b.is_ascii_lowercase() || b == b'_'
                }
            });
        if !ok {
            let allowed = if map_key {
                "letters, digits and `_`"
            } else {
                "lower-case letters and `_`"
            };
            return Err(format!(
                "bad key `{key}`: segment `{segment}` must be one or more {allowed}"
            ));
        }
    }
    Ok(segments)
}

/// Refuses a VALUE that is not one well-formed YAML node, or that holds a
/// character YAML could take as a line break (which would escape the
/// indentation that keeps VALUE below its key).
fn check_value(value: &str) -> Result<(), String> {
    if let Some(c) = value
        .chars()
        .find(|&c| (c.is_control() && c != '\n' && c != '\t') || c == '\u{2028}' || c == '\u{2029}')
    {
        return Err(format!("the value contains the control character {:?}", c));
    }
    from_yaml::<IgnoredAny>(value).map(drop).map_err(|err| {
        format!(
            "malformed value `{}`: {}",
            super::printable(value),
            YamlProblem::from(&err).with_hint()
        )
    })
}
