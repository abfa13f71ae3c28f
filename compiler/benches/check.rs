//! Compiler throughput on generated flow sets (`gen.rs`) of three sizes: 1x
//! (10 files, 1,000 IVR blocks), 10x (100 files, 10,000 blocks) and 100x
//! (1,000 files, 100,000 blocks). For `parse` alone and for the whole
//! `compile` it prints MB/s, blocks/s and the cost of a block relative to the
//! 1x set, which stays near 1.0 while the cost grows linearly. Every set must
//! compile without errors.
//!
//! ```text
//! cargo bench -p dialect-compiler --bench check            # every size
//! cargo bench -p dialect-compiler --bench check -- 1x 10x  # some sizes
//! ```
//!
//! Without `--bench` (as `cargo test --benches` runs it) only the 1x set is
//! generated, checked and timed once, as a smoke test.

#[path = "gen.rs"]
mod flowset;

use dialect_compiler::world::FsWorld;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

/// One size of flow set and how often to time it.
struct Size {
    label: &'static str,
    files: usize,
    runs: usize,
}

const SIZES: &[Size] = &[
    Size {
        label: "1x",
        files: 10,
        runs: 10,
    },
    Size {
        label: "10x",
        files: 100,
        runs: 5,
    },
    Size {
        label: "100x",
        files: 1_000,
        runs: 3,
    },
];

/// IVR blocks in each generated file.
const BLOCKS_PER_FILE: usize = 100;
const SEED: u64 = 0x0D1A_1EC7;

/// The median time of one phase over a set, in seconds.
struct Timing {
    parse: f64,
    compile: f64,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let full = args.iter().any(|a| a == "--bench");
    let wanted: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .map(String::as_str)
        .collect();
    let sizes: Vec<&Size> = SIZES
        .iter()
        .filter(|s| {
            if wanted.is_empty() {
                full || s.label == "1x"
            } else {
                wanted.contains(&s.label)
            }
        })
        .collect();

    println!(
        "{:>5} {:>6} {:>8} {:>7} | {:>10} {:>12} {:>9} {:>6} | {:>10} {:>12} {:>9} {:>6}",
        "size",
        "files",
        "blocks",
        "MB",
        "parse MB/s",
        "blocks/s",
        "ns/block",
        "ratio",
        "check MB/s",
        "blocks/s",
        "ns/block",
        "ratio"
    );
    let mut base: Option<(f64, f64)> = None;
    for size in sizes {
        let runs = if full { size.runs } else { 1 };
        let dir = std::env::temp_dir().join(format!(
            "dialect-bench-{}-{}",
            std::process::id(),
            size.label
        ));
        let set = flowset::generate(&dir, size.files, BLOCKS_PER_FILE, SEED)
            .expect("the flow set can be written to the temporary directory");
        let timing = measure(&set, runs);
        // DIALECT_BENCH_KEEP=1 keeps the generated flows, e.g. for profiling `dialect check`.
        if std::env::var_os("DIALECT_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }

        let mb = set.bytes as f64 / 1e6;
        let per_block = |secs: f64| secs * 1e9 / set.blocks as f64;
        let (parse_ns, compile_ns) = (per_block(timing.parse), per_block(timing.compile));
        let (parse_base, compile_base) = *base.get_or_insert((parse_ns, compile_ns));
        println!(
            "{:>5} {:>6} {:>8} {:>7.2} | {:>10.1} {:>12.0} {:>9.0} {:>6.2} | {:>10.1} {:>12.0} {:>9.0} {:>6.2}",
            size.label,
            size.files,
            set.blocks,
            mb,
            mb / timing.parse,
            set.blocks as f64 / timing.parse,
            parse_ns,
            parse_ns / parse_base,
            mb / timing.compile,
            set.blocks as f64 / timing.compile,
            compile_ns,
            compile_ns / compile_base,
        );
    }
    println!("(ratio: the cost of a block against the 1x set; near 1.0 is linear)");
}

/// Checks that the set compiles without errors, then times `parse` over its
/// texts and `compile` over its directory, `runs` times each.
fn measure(set: &flowset::FlowSet, runs: usize) -> Timing {
    let texts: Vec<String> = set
        .files
        .iter()
        .map(|path| std::fs::read_to_string(path).expect("a generated file can be read"))
        .collect();
    for (path, text) in set.files.iter().zip(&texts) {
        let (_, errors) = dialect_compiler::parse::parse(text);
        assert!(
            errors.is_empty(),
            "{}: syntax errors {errors:?}",
            path.display()
        );
    }
    let inputs: Vec<PathBuf> = vec![set.dir.clone()];
    let compile = || dialect_compiler::compile(&FsWorld::new(None, &set.dir), &inputs);

    let compilation = compile();
    let errors = compilation.error_count();
    let diagnostics = compilation.diagnostics();
    for d in diagnostics.iter().take(5) {
        eprint!("{}", d.to_human(false));
    }
    println!(
        "{}: {} files, {} blocks generated; the compiler counted {} blocks, {} bytes; {} errors, {} warnings",
        set.dir.display(),
        set.files.len(),
        set.blocks,
        compilation.blocks,
        compilation.bytes,
        errors,
        compilation.warning_count(),
    );
    assert_eq!(errors, 0, "the generated flows must compile without errors");

    let parse = median(runs, || {
        texts
            .iter()
            .map(|text| dialect_compiler::parse::parse(black_box(text)))
            .collect::<Vec<_>>()
    });
    let compile = median(runs, compile);
    Timing { parse, compile }
}

/// The median wall time of `runs` calls of `f`, in seconds. What `f` returns
/// is dropped after the clock stops: `dialect check` exits without freeing
/// the syntax trees (the process's end does that at once), so neither does
/// the measurement.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let start = Instant::now();
            let kept = black_box(f());
            let elapsed = start.elapsed().as_secs_f64();
            drop(kept);
            elapsed
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied().unwrap_or(0.0)
}
