//! The idauth public API.
//!
//! The gateway checks every request ([`validate`]), turns the resident identifier into
//! the storage key (a keyed BLAKE3 hash, [`routing`]), picks the owning shard by
//! rendezvous hashing, calls it through [`ShardClient`] (in-process or over gRPC) with
//! the rest of the request's latency budget as its deadline, and answers. The tonic
//! services are in [`service`]; every error leaves through the one mapping in
//! `idauth_proto::status`.

pub mod auth;
mod client;
pub mod cluster;
pub mod envelope;
mod error;
mod gateway;
pub mod master_keys;
pub mod receipt;
pub mod routing;
pub mod service;
pub mod shard_health;
pub mod validate;

pub use client::{LocalShard, RemoteShard, ShardClient};
pub use cluster::{ClusterBuilder, ShardSettings, local_shard_id};
pub use error::GatewayError;
pub use gateway::{Gateway, GatewayOptions, now_ms};
pub use master_keys::MasterKeys;
pub use routing::{Router, StorageKeySecret};
pub use validate::Limits;
