//! A policy file's text through `parse_layer`, and when it parses, through the whole resolution
//! (built-in defaults, `extends:` of a shipped profile, the layer, the cross-field checks).
//!
//! `load` only reads layers from files or `--set` arguments, and this target writes nothing to
//! disk, so a parsed document is fed back as `--set` arguments: one per top-level key (one per
//! name under `env` and `rlimits`), its value re-encoded as JSON (which is YAML).

#![no_main]

use jaild_fuzz::check_policy;
use libfuzzer_sys::fuzz_target;
use libjail::policy::{SHIPPED, load, parse_layer};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(layer) = parse_layer(text, "fuzz") else {
        return;
    };
    let _ = (layer.has_version(), layer.description());
    let base = layer.extends().filter(|e| SHIPPED.contains(e)).map(str::to_string);

    // The same document, generically, to split into `--set`s.
    let Ok(Value::Object(doc)) = serde_saphyr::from_str::<Value>(text) else {
        return;
    };
    let mut sets = Vec::new();
    for (key, value) in doc {
        match (key.as_str(), value) {
            ("version" | "extends", _) => {}
            ("env" | "rlimits", Value::Object(map)) => {
                for (name, v) in map {
                    sets.push(format!("{key}.{name}={v}"));
                }
            }
            (_, v) => sets.push(format!("{key}={v}")),
        }
    }
    if let Ok(policy) = load(base.as_deref(), &sets) {
        check_policy(&policy, &sets);
    }
});
