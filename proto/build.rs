//! Generates the Rust code for `proto/sdn/v1/*.proto` with tonic-prost-build.

use std::path::PathBuf;
use std::process::Command;

const PROTOS: &[&str] = &[
    "proto/sdn/v1/resources.proto",
    "proto/sdn/v1/api.proto",
    "proto/sdn/v1/sync.proto",
];

fn main() {
    let protoc = std::env::var_os("PROTOC").unwrap_or_else(|| "protoc".into());
    let found = Command::new(&protoc)
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        panic!(
            "protoc not found (looked for {protoc:?}); install it with `cargo xtask deps` \
             (or `apt-get install protobuf-compiler`), or point PROTOC at it"
        );
    }
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    println!("cargo:rerun-if-env-changed=PROTOC");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("sdn_v1_descriptor.bin"))
        .compile_protos(PROTOS, &["proto"])
        .unwrap_or_else(|err| panic!("compile {PROTOS:?}: {err}"));
}
