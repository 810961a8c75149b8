//! Helpers shared by the end-to-end tests of the binary.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the helpers"
)]

#[cfg(feature = "rados")]
pub mod ceph;
pub mod corpus;
pub mod reflection;
pub mod service;
