//! The idauth gRPC API, generated from `proto/` at build time by a pure-Rust protobuf
//! compiler, and every conversion between its messages and the domain types of
//! `idauth-core` ([`convert`]) and between error codes and gRPC statuses ([`status`]).
//!
//! Nothing outside this crate touches a generated message field by field, so a new
//! proto field fails to compile here until it is handled.

#![expect(
    missing_docs,
    reason = "generated code carries the proto comments, not rustdoc on every item"
)]

/// The generated packages, nested as the proto package names are (the generated code
/// refers across packages by relative paths).
pub mod idauth {
    /// The public API, `idauth.v1`.
    pub mod v1 {
        tonic::include_proto!("idauth.v1");
    }
    /// Internal packages.
    pub mod internal {
        /// The shard API, `idauth.internal.v1`, called only by gateways.
        pub mod v1 {
            tonic::include_proto!("idauth.internal.v1");
        }
    }
}

pub use idauth::internal::v1 as internal;
pub use idauth::v1;

pub mod convert;
pub mod status;

/// The encoded descriptor set of every idauth proto, the shard API's included.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("idauth_descriptor");

/// The encoded descriptor set of the public API alone, for the public port's server
/// reflection (the shard API is not served there).
pub const PUBLIC_FILE_DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("idauth_public_descriptor");

#[cfg(test)]
mod tests {
    use prost::Message;

    #[test]
    fn the_shard_api_imports_no_public_file() {
        let set = prost_types::FileDescriptorSet::decode(super::FILE_DESCRIPTOR_SET).unwrap();
        let internal: Vec<_> = set
            .file
            .iter()
            .filter(|file| file.package() == "idauth.internal.v1")
            .collect();
        assert_eq!(internal.len(), 2, "types.proto and shard.proto");
        for file in internal {
            for dependency in &file.dependency {
                assert!(
                    !dependency.starts_with("idauth/v1/"),
                    "{} imports {dependency}",
                    file.name()
                );
            }
        }
    }
}
