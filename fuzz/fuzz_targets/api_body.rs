//! jaild's REST request bodies, as the daemon reads them: `POST /v1/jails` (`CreateRequest`),
//! the stop/restart body (`StopRequest`, with its `RestartPolicy`), and the stored jail config
//! (`JailConfig`, JSON here and YAML as `config.yaml`). For a create request, the checks jaild
//! runs before it touches the disk: the name, the stop signal, and the policy with the request's
//! `ids`, `hostname` and `sets` on top. Also the config's trip through `config.yaml`, which must
//! read back as written (or the jail is skipped when jaild restarts).
//!
//! Invariants: no panic; a name `check_name` accepts is a safe single directory name; a policy
//! that resolves keeps its mandatory masks; requests and configs survive their serde trips.

#![no_main]

use jaild::api::{self, CreateRequest, JailConfig, MAX_NAME_LEN, RestartPolicy, StopRequest};
use jaild::daemon::supervisor::parse_signal;
use jaild_fuzz::check_policy;
use libfuzzer_sys::fuzz_target;
use libjail::policy;

fn check_name(name: &str) {
    if api::check_name(name).is_ok() {
        assert!(!name.is_empty() && name.len() <= MAX_NAME_LEN, "{name:?}");
        assert!(name != "." && name != ".." && !name.starts_with('.'), "{name:?}");
        assert!(!name.contains('/') && !name.contains('\0'), "{name:?}");
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
            "{name:?}"
        );
    }
}

fn check_yaml_round_trip(config: &JailConfig) {
    // As Store::create writes it and Store::read_config reads it.
    let yaml = serde_saphyr::to_string(config).expect("a config serialises to YAML");
    let text = format!("# jaild: the configuration of jail {}. Written by jaild; edit with care.\n{yaml}", config.name);
    match serde_saphyr::from_str::<JailConfig>(&text) {
        Ok(back) => assert!(back == *config, "config.yaml changed the config:\n{text}\n{config:?}\n{back:?}"),
        Err(e) => panic!("config.yaml of {config:?} does not read back: {e}\n{text}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = serde_json::from_slice::<CreateRequest>(data) {
        let json = serde_json::to_vec(&req).unwrap();
        assert_eq!(serde_json::from_slice::<CreateRequest>(&json).ok().as_ref(), Some(&req));
        check_name(&req.name);
        if let Some(s) = &req.stop_signal {
            if let Ok(n) = parse_signal(s) {
                assert!((1..=64).contains(&n), "{s:?} -> {n}");
            }
        }
        // What Jails::create builds; the policy is resolved only when it is a shipped profile
        // (jaild reads absolute file paths from disk, which this target does not).
        let config = JailConfig {
            name: req.name.clone(),
            root: req.root.clone(),
            policy: req.policy.clone(),
            sets: req.sets.clone(),
            hostname: req.hostname.clone(),
            ids: req.ids.clone(),
            autostart: req.autostart,
            command: if req.command.is_empty() {
                vec!["/sbin/init".to_string()]
            } else {
                req.command.clone()
            },
            restart: req.restart,
            stop_signal: req.stop_signal.clone(),
            created_at: 1_700_000_000,
        };
        let shipped = config.policy.as_deref().is_none_or(|p| policy::SHIPPED.contains(&p));
        let policy_ok = if shipped {
            let sets = config.policy_sets();
            match policy::load(config.policy.as_deref(), &sets) {
                Ok(p) => {
                    check_policy(&p, &sets);
                    true
                }
                Err(_) => false,
            }
        } else {
            // An absolute file path may well name a good policy on the daemon's side.
            config.policy.as_deref().is_some_and(|p| p.starts_with('/'))
        };
        let signal_ok = config.stop_signal.as_deref().is_none_or(|s| parse_signal(s).is_ok());
        // Only a config jaild would accept is ever written to config.yaml.
        if policy_ok && signal_ok && api::check_name(&config.name).is_ok() {
            check_yaml_round_trip(&config);
        }
    }
    if let Ok(stop) = serde_json::from_slice::<StopRequest>(data) {
        let json = serde_json::to_vec(&stop).unwrap();
        assert_eq!(serde_json::from_slice::<StopRequest>(&json).ok(), Some(stop));
    }
    if let Ok(restart) = serde_json::from_slice::<RestartPolicy>(data) {
        let json = serde_json::to_vec(&restart).unwrap();
        assert_eq!(serde_json::from_slice::<RestartPolicy>(&json).ok(), Some(restart));
    }
    if let Ok(config) = serde_json::from_slice::<JailConfig>(data) {
        let _ = config.policy_sets();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check_name(text);
        if let Ok(n) = parse_signal(text) {
            assert!((1..=64).contains(&n), "{text:?} -> {n}");
        }
        let _ = serde_saphyr::from_str::<JailConfig>(text);
    }
});
