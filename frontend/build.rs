//! Compiles the vendored BuildKit protocol files (`proto/`) with the system `protoc`, offline.
//! Map fields become `BTreeMap`s so re-marshalled LLB is byte-stable (op digests do not change).
//! Both the client (the frontend) and the server (the in-test LLBBridge) are generated.

use std::path::PathBuf;

fn main() {
    const PROTOS: &[&str] = &[
        "proto/gateway.proto",
        "proto/ops.proto",
        "proto/caps.proto",
        "proto/stat.proto",
        "proto/status.proto",
    ];
    for p in PROTOS {
        println!("cargo:rerun-if-changed={p}");
    }
    println!("cargo:rerun-if-env-changed=PROTOC");
    let protoc = std::env::var_os("PROTOC")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/protoc"));
    if !protoc.is_file() {
        // A build script reports through stderr and its exit status.
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "error: protoc not found at {} — install the Debian package `protobuf-compiler` \
                 (apt-get install protobuf-compiler) or set PROTOC to a protoc binary",
                protoc.display()
            );
        }
        std::process::exit(1);
    }
    // SAFETY-free: prost-build reads PROTOC from the environment of this build script only.
    let mut config = tonic_build::Config::new();
    config.protoc_executable(&protoc);
    config.btree_map(["."]);
    if let Err(e) = tonic_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos_with_config(config, PROTOS, &["proto"])
    {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "error: compiling proto/*.proto with {}: {e}",
                protoc.display()
            );
        }
        std::process::exit(1);
    }
}
