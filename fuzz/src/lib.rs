//! Checks shared by the fuzz targets.

use libjail::policy::{
    self, MANDATORY_PROC_MASKED, MANDATORY_PROC_READONLY, MANDATORY_SYS_MASKED, MANDATORY_SYS_READONLY, Policy,
};

/// Everything that must hold of any policy `load` returns: the mandatory masks are all there,
/// the id maps of a custom policy validate, the policy explains itself, and it survives the JSON
/// trip to `jail-init` unchanged.
pub fn check_policy(policy: &Policy, what: &dyn std::fmt::Debug) {
    for m in MANDATORY_PROC_MASKED {
        assert!(
            policy.proc.masked.iter().any(|p| p == m),
            "{what:?}: lost mandatory proc mask {m}: {:?}",
            policy.proc.masked
        );
    }
    for m in MANDATORY_PROC_READONLY {
        assert!(
            policy.proc.readonly.iter().any(|p| p == m),
            "{what:?}: lost mandatory read-only {m}: {:?}",
            policy.proc.readonly
        );
    }
    for m in MANDATORY_SYS_MASKED {
        assert!(
            policy.sys.masked.iter().any(|p| p == m),
            "{what:?}: lost mandatory sys mask {m}: {:?}",
            policy.sys.masked
        );
    }
    for m in MANDATORY_SYS_READONLY {
        assert!(
            policy.sys.readonly.iter().any(|p| p == m),
            "{what:?}: lost mandatory sys read-only {m}"
        );
    }
    for map in [&policy.ids.map, &policy.ids.gid_map].into_iter().flatten() {
        if let Err(e) = map.validate() {
            panic!("{what:?}: resolved policy holds an invalid id map {map}: {e}");
        }
    }
    let _ = policy::explain(policy);
    let _ = policy::effective_capabilities(policy);
    let json = serde_json::to_string(policy).expect("a policy serialises");
    let back: Policy = match serde_json::from_str(&json) {
        Ok(p) => p,
        Err(e) => panic!("{what:?}: policy JSON does not read back: {e}\n{json}"),
    };
    assert!(back == *policy, "{what:?}: policy changed on its JSON round trip:\n{json}");
}
