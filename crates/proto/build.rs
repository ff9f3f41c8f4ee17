//! Generates the Rust types for our `.proto` files with prost, using the `protoc` shipped by
//! `protoc-bin-vendored` so that no system protobuf compiler is needed.

const PROTO_ROOT: &str = "proto";

const PROTO_FILES: &[&str] = &["proto/prometheus/types.proto", "proto/prometheus/remote.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc);
    config.compile_protos(PROTO_FILES, &[PROTO_ROOT])?;
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }
    Ok(())
}
