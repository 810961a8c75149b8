//! Compiles `proto/` with protox (pure Rust: no protoc on the machine) and generates the
//! tonic services; the descriptor sets (all files, and the public API's alone) are kept
//! for gRPC server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "idauth/v1/common.proto",
        "idauth/v1/enrolment.proto",
        "idauth/v1/auth.proto",
        "idauth/v1/operator.proto",
        "idauth/internal/v1/types.proto",
        "idauth/internal/v1/shard.proto",
    ];
    for file in &files {
        println!("cargo:rerun-if-changed={}", root.join(file).display());
    }
    let descriptors = protox::compile(files, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("idauth_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    // What the public port's reflection describes: the shard API is not served there.
    let mut public = descriptors.clone();
    public
        .file
        .retain(|file| !file.package().starts_with("idauth.internal."));
    std::fs::write(
        out.join("idauth_public_descriptor.bin"),
        public.encode_to_vec(),
    )?;
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
