//! The end-to-end tests of the binary and the service, one module per subject, in one
//! test binary so that the workspace's tests link it once.

mod common;

mod at_rest;
mod audit_cli;
mod bad_input;
mod bench_cli;
mod callers;
#[cfg(feature = "rados")]
mod ceph_faults;
mod crash_harness;
mod dev_credential;
mod disk_faults;
mod envelopes;
mod eval_cli;
mod health_reflection;
mod hung_shard;
mod lifecycle;
mod mtls;
mod no_open_door;
mod overload;
#[cfg(feature = "rados")]
mod rados_engine;
mod raw_bytes;
mod resident_controls;
mod service_loopback;
mod service_processes;
mod slow_clients;
mod soak;
#[cfg(feature = "rados")]
mod store_copy;
mod walkthrough_data;
