//! `dialect fmt`: the one canonical layout of flow files, idempotent, every
//! comment kept (the printer is `dialect_compiler::print`).

use super::{FAILED, OK, USAGE};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Options of `dialect fmt`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Flow files or directories (searched for `.flow` files). Default: `flows/`.
    paths: Vec<PathBuf>,
    /// Change nothing: list the files that are not formatted, with a diff,
    /// and exit 1 if there is one.
    #[arg(long)]
    check: bool,
}

fn flow_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            flow_files(&entry, out)?;
        } else if entry.extension().is_some_and(|x| x == "flow") {
            out.push(entry);
        }
    }
    Ok(())
}

/// A line diff of `old` and `new` (longest common subsequence), `-`/`+`
/// lines with a few lines of context; enough to see what `fmt` would do.
fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let (n, m) = (a.len(), b.len());
    // lcs[i][j]: the common length of a[i..] and b[j..]; files are small.
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let value = if a.get(i) == b.get(j) {
                lcs.get(i + 1)
                    .and_then(|r| r.get(j + 1))
                    .copied()
                    .unwrap_or(0)
                    + 1
            } else {
                let down = lcs.get(i + 1).and_then(|r| r.get(j)).copied().unwrap_or(0);
                let right = lcs.get(i).and_then(|r| r.get(j + 1)).copied().unwrap_or(0);
                down.max(right)
            };
            if let Some(cell) = lcs.get_mut(i).and_then(|r| r.get_mut(j)) {
                *cell = value;
            }
        }
    }
    let at = |i: usize, j: usize| lcs.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a.get(i) == b.get(j) {
            i += 1;
            j += 1;
        } else if i < n && (j >= m || at(i + 1, j) >= at(i, j + 1)) {
            // Removed lines first, then what replaces them.
            out.push_str(&format!("{:>4} - {}\n", i + 1, a.get(i).unwrap_or(&"")));
            i += 1;
        } else {
            out.push_str(&format!("{:>4} + {}\n", j + 1, b.get(j).unwrap_or(&"")));
            j += 1;
        }
    }
    out
}

/// Runs `dialect fmt`.
pub fn run(args: &Args) -> i32 {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("flows")]
    } else {
        args.paths.clone()
    };
    let mut files = Vec::new();
    for path in &paths {
        if let Err(err) = flow_files(path, &mut files) {
            eprintln!("error: cannot read {}: {err}", path.display());
            return USAGE;
        }
    }
    let mut unformatted = 0;
    // Files with syntax errors (1), and files that cannot be read or written (2).
    let mut broken = 0;
    let mut unusable = 0;
    for file in &files {
        let text = match std::fs::read_to_string(file) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("error: cannot read {}: {err}", file.display());
                unusable += 1;
                continue;
            }
        };
        let (tree, errors) = dialect_compiler::parse::parse(&text);
        if !errors.is_empty() {
            eprintln!(
                "error: {} has {} syntax error(s); `dialect check` shows them; not formatted",
                file.display(),
                errors.len()
            );
            broken += 1;
            continue;
        }
        let formatted = dialect_compiler::print::print(&tree, &text);
        if formatted == text {
            continue;
        }
        unformatted += 1;
        if args.check {
            // A closed pipe (`| head`) ends the listing, not the process.
            let _ = writeln!(
                std::io::stdout().lock(),
                "{} is not formatted:\n{}",
                file.display(),
                diff(&text, &formatted)
            );
        } else if let Err(err) = std::fs::write(file, &formatted) {
            eprintln!("error: cannot write {}: {err}", file.display());
            unusable += 1;
        } else {
            let _ = writeln!(std::io::stdout().lock(), "formatted {}", file.display());
        }
    }
    if unusable > 0 {
        return USAGE;
    }
    if broken > 0 || (args.check && unformatted > 0) {
        if args.check && unformatted > 0 {
            eprintln!("{unformatted} file(s) not formatted: run `dialect fmt`");
        }
        return FAILED;
    }
    OK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diff_shows_changed_lines_only() {
        let d = diff("a\nb\nc\n", "a\nB\nc\n");
        assert_eq!(d, "   2 - b\n   2 + B\n");
        assert_eq!(diff("x\n", "x\n"), "");
        assert_eq!(diff("", "y\n"), "   1 + y\n");
    }
}
