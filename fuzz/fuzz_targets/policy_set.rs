//! Up to four `--set KEY=VALUE` arguments (the input split at NUL bytes, which no VALUE may
//! hold) on top of the default policy. No panic, and no override may ever remove a mandatory
//! /proc or /sys mask.

#![no_main]

use jaild_fuzz::check_policy;
use libfuzzer_sys::fuzz_target;
use libjail::policy::load;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sets: Vec<String> = text.split('\0').take(4).map(str::to_string).collect();
    if let Ok(policy) = load(None, &sets) {
        assert!(policy.proc.readonly.iter().any(|p| p == "/proc/sys"), "{sets:?}");
        assert!(policy.proc.masked.iter().any(|p| p == "/proc/kcore"), "{sets:?}");
        check_policy(&policy, &sets);
    }
});
