//! The ABI drift check: `include/sdn_abi.h` and `src/abi.rs` must agree. Needs no privileges.

use std::path::Path;
use std::process::Command;

use sdn_ebpf::{abi, btf_layout, object};

fn header() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("include/sdn_abi.h"))
        .unwrap()
}

#[test]
fn rust_mirrors_match_the_compiled_objects() {
    let objects: Vec<(&str, &[u8])> = object::ALL.iter().map(|o| (o.name, o.bytes)).collect();
    let problems = btf_layout::drift(&header(), &objects, &abi::mirrors());
    assert!(problems.is_empty(), "ABI drift:\n{}", problems.join("\n"));
}

#[test]
fn the_check_catches_a_field_changed_in_the_header_only() {
    // Widen one field in a copy of the header, compile a program using it, and check again.
    let dir = std::env::temp_dir().join(format!("sdn-abi-drift-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // (The C side's own _Static_assert is updated too, as whoever edits the header would.)
    let changed = header()
        .replace("\t__u32 direction;", "\t__u64 direction;")
        .replace(
            "sizeof(struct sdn_meter_key) == 8",
            "sizeof(struct sdn_meter_key) == 16",
        );
    assert_ne!(
        changed,
        header(),
        "the test's edit no longer applies to sdn_abi.h"
    );
    std::fs::write(dir.join("sdn_abi.h"), changed).unwrap();
    std::fs::write(
        dir.join("probe.bpf.c"),
        "#include \"sdn_abi.h\"\nstruct sdn_meter_key probe_key;\nstruct sdn_meter_value probe_value;\n\
         struct sdn_counter probe_counter;\n",
    )
    .unwrap();
    let arch_include = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let status = Command::new("clang-19")
        .args([
            "-O2",
            "-g",
            "-target",
            "bpf",
            &arch_include,
            "-c",
            "probe.bpf.c",
            "-o",
            "probe.o",
        ])
        .current_dir(&dir)
        .status()
        .expect("clang-19 (install with `cargo xtask deps`)");
    assert!(status.success());
    let elf = std::fs::read(dir.join("probe.o")).unwrap();
    let problems = btf_layout::drift(&header(), &[("probe", &elf)], &abi::mirrors());
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        problems.iter().any(|p| p.contains("sdn_meter_key drifted")),
        "drift not detected: {problems:?}"
    );
}

#[test]
fn constants_come_from_the_header() {
    assert_eq!(abi::SDN_DIR_EGRESS, 0);
    assert_eq!(abi::SDN_DIR_INGRESS, 1);
    assert_eq!(
        abi::SDN_CLASS_COUNT as usize,
        abi::MeterValue::default().by_class.len()
    );
}
