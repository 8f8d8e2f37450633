//! Every `unsafe` call of libjail, each behind a safe function with a
//! `// SAFETY:` comment. Nothing else in the crate may use `unsafe`.
#![allow(unsafe_code)]

pub mod seccomp;
