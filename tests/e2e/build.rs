//! `dialect check` and `dialect build` over the real flows: clean, golden
//! dumps of every campaign, and byte-identical artifacts from two builds and
//! from a copy of the checkout at another path.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dialect(cwd: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dialect"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("dialect runs")
}

/// A fresh directory under the build's temporary directory (`target/tmp`:
/// one per test name, emptied by the next run and by `cargo clean`, never
/// left to pile up in the system's).
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("e2e-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

pub(crate) fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let path = entry.expect("entry").path();
        let target = to.join(path.file_name().expect("name"));
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

fn artifacts(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("out dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "dialect"))
        .map(|p| {
            (
                p.file_name().expect("name").to_string_lossy().into_owned(),
                std::fs::read(&p).expect("read"),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn flows_and_stdlib_check_clean() {
    let out = dialect(&root(), &["check", "flows/", "stdlib/", "--deny-warnings"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "dialect check failed:\n{stdout}");
    assert!(stdout.contains("0 error(s), 0 warning(s)"), "{stdout}");
}

#[test]
fn builds_are_byte_identical_twice_and_from_another_path() {
    let first = scratch("build-first");
    let second = scratch("build-second");
    for out in [&first, &second] {
        let run = dialect(
            &root(),
            &["build", "flows/", "-o", out.to_str().expect("utf-8 path")],
        );
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stdout)
        );
    }
    let a = artifacts(&first);
    assert!(a.len() >= 8, "one artifact per campaign, got {}", a.len());
    assert_eq!(a, artifacts(&second), "two builds differ");

    // A copy of the checkout somewhere else, with files created in another order.
    let copy = scratch("checkout-copy").join("elsewhere/deeper");
    for dir in ["stdlib", "flows"] {
        copy_tree(&root().join(dir), &copy.join(dir));
    }
    let third = scratch("build-third");
    let run = dialect(
        &copy,
        &["build", "flows", "-o", third.to_str().expect("utf-8 path")],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    assert_eq!(a, artifacts(&third), "a build from another path differs");
    for (name, bytes) in &a {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains(root().to_string_lossy().as_ref()),
            "{name} contains the checkout path"
        );
    }
}

#[test]
fn golden_dump_of_every_campaign() {
    let world =
        dialect_compiler::world::FsWorld::new(Some(root().join("stdlib")), &root().join("flows"));
    let compilation = dialect_compiler::compile(&world, &[root().join("flows")]);
    assert!(!compilation.has_errors());
    assert!(compilation.programs.len() >= 8);
    for program in &compilation.programs {
        let bytes = dialect_bytecode::encode(program);
        let loaded = dialect_bytecode::load(&bytes).expect("a fresh artifact loads");
        assert_eq!(&loaded.program, program);
        let dump = dialect_bytecode::dump(&loaded.header, &loaded.program).replace(
            &format!("compiler {}", dialect_bytecode::compiler_version()),
            "compiler VERSION",
        );
        insta::with_settings!({ snapshot_path => "../golden", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!(program.name.clone(), dump);
        });
    }
}

#[test]
fn dump_refuses_a_corrupt_artifact_with_exit_2() {
    let out = scratch("corrupt");
    let run = dialect(
        &root(),
        &[
            "build",
            "flows/scheme1.flow",
            "-o",
            out.to_str().expect("utf-8"),
        ],
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stdout)
    );
    let path = out.join("scheme1.dialect");
    let mut bytes = std::fs::read(&path).expect("artifact");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40;
    std::fs::write(&path, &bytes).expect("write");
    let run = dialect(&root(), &["dump", path.to_str().expect("utf-8")]);
    assert_eq!(run.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("hash") || stderr.contains("corrupt"),
        "{stderr}"
    );
}

#[test]
fn fmt_rewrites_a_file_into_the_canonical_layout_and_check_reports_it() {
    let dir = scratch("fmt");
    let file = dir.join("messy.flow");
    std::fs::write(
        &file,
        "// kept\ncampaign messy { name \"Messy\"\n id \"M\"\n numbers [+48221004000]\n ivr { answer\n   say \"Hi\" // also kept\n hangup } }\n",
    )
    .expect("write");
    let dialect = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_dialect"))
            .args(args)
            .arg(&file)
            .output()
            .expect("dialect runs")
    };
    let check = dialect(&["fmt", "--check"]);
    assert_eq!(check.status.code(), Some(1));
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        report.contains("is not formatted") && report.contains(" + "),
        "{report}"
    );
    assert!(dialect(&["fmt"]).status.success());
    let formatted = std::fs::read_to_string(&file).expect("read");
    assert!(
        formatted.contains("// kept") && formatted.contains("// also kept"),
        "{formatted}"
    );
    assert!(formatted.contains("\n  ivr {\n"), "{formatted}");
    assert_eq!(dialect(&["fmt", "--check"]).status.code(), Some(0));
    assert!(
        dialect(&["check"]).status.success(),
        "the formatted flow still checks"
    );
}

/// `dialect check DIR` (and an editor's workspace folder) leaves out build
/// output, npm packages and hidden directories.
#[test]
fn check_of_a_directory_skips_target_node_modules_and_hidden_directories() {
    let dir = scratch("skip-dirs");
    let flow = "campaign a {\n  name \"A\"\n  id \"A\"\n  numbers [+48221000701]\n  ivr { answer; hangup }\n}\n";
    std::fs::write(dir.join("a.flow"), flow).expect("write");
    for skipped in ["target", "node_modules", ".git", "sub/target"] {
        std::fs::create_dir_all(dir.join(skipped)).expect("mkdir");
        std::fs::write(dir.join(skipped).join("broken.flow"), "campaign {").expect("write");
    }
    let out = dialect(&dir, &["check", "."]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("1 file(s), 1 campaign(s)"), "{stdout}");
}
