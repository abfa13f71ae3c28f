//! `dialect test`: runs the scenarios of `*.test.toml` files in the
//! simulator, against the campaigns compiled from the same paths.

use super::check::{Format, report};
use super::{FAILED, Inputs, OK, USAGE};
use dialect_sim::report::{Coverage, Tested};
use dialect_sim::{Suite, scenario};
use std::io::IsTerminal;
use std::path::PathBuf;

/// Options of `dialect test`.
#[derive(clap::Args, Debug)]
pub struct Args {
    // The paths are searched for `.flow` and `.test.toml` files; a
    // scenario file given by name has its directory compiled.
    #[command(flatten)]
    inputs: Inputs,
    /// Also write the results as JUnit XML to this file.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Print which exits of which blocks the scenarios took.
    #[arg(long)]
    coverage: bool,
    /// Fail (exit 1) when fewer than N percent of all exits were taken.
    #[arg(long, value_name = "N")]
    min_coverage: Option<f64>,
    /// Run only the scenarios whose name contains TEXT.
    #[arg(long, value_name = "TEXT")]
    filter: Option<String>,
}

/// Runs `dialect test`.
pub fn run(args: &Args) -> i32 {
    let paths = args.inputs.paths();
    // A scenario file given by name is compiled with the flows beside it.
    let mut flow_paths: Vec<PathBuf> = Vec::new();
    for path in &paths {
        let flows = if scenario::is_scenario_file(path) {
            path.parent()
                .map(|p| p.to_path_buf())
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or_else(|| PathBuf::from("."))
        } else {
            path.clone()
        };
        if !flow_paths.contains(&flows) {
            flow_paths.push(flows);
        }
    }
    let inputs = args.inputs.with_paths(flow_paths);
    let compilation = inputs.compile();
    if compilation.has_errors() || !compilation.io_errors.is_empty() {
        report(&compilation, Format::Human, false);
        eprintln!("error: the flows do not compile, so no scenario was run");
        // Errors in the flows are a problem found (1); unreadable files a
        // problem of use (2), as for `dialect check`.
        return if compilation.io_errors.is_empty() {
            FAILED
        } else {
            USAGE
        };
    }
    let suite = match Suite::new(&compilation.programs, &compilation.sources) {
        Ok(suite) => suite,
        Err(err) => {
            eprintln!("error: {err}");
            return USAGE;
        }
    };
    let (files, errors) = scenario::load(&paths);
    if !errors.is_empty() {
        for err in &errors {
            eprintln!("error: {err}");
        }
        return USAGE;
    }
    if files.is_empty() {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "error: no scenario file (*.test.toml) in {}",
            shown.join(", ")
        );
        return USAGE;
    }

    let mut results = Vec::new();
    for file in &files {
        for s in &file.scenarios {
            if args
                .filter
                .as_ref()
                .is_some_and(|f| !s.name.contains(f.as_str()))
            {
                continue;
            }
            let tested = Tested {
                file: file.path.clone(),
                name: s.name.clone(),
                line: s.line,
                run: dialect_sim::run(&suite, s),
            };
            println!("{}", dialect_sim::report::line(&tested));
            results.push(tested);
        }
    }
    if results.is_empty() {
        eprintln!("error: no scenario matches the filter");
        return USAGE;
    }

    let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let failed: Vec<&Tested> = results.iter().filter(|t| !t.run.passed()).collect();
    if !failed.is_empty() {
        println!("\nfailures:\n");
        for t in &failed {
            println!("{}", dialect_sim::report::details(t, &suite, colour));
        }
    }

    let mut code = if failed.is_empty() { OK } else { FAILED };
    if let Some(path) = &args.junit
        && let Err(err) = std::fs::write(path, dialect_sim::report::junit(&results))
    {
        eprintln!("error: cannot write {}: {err}", path.display());
        code = USAGE;
    }
    if args.coverage || args.min_coverage.is_some() {
        let mut coverage = Coverage::new(&suite);
        for t in &results {
            coverage.add(&t.run);
        }
        if args.coverage {
            print!("\n{}", coverage.render());
        }
        if let Some(min) = args.min_coverage
            && !coverage.reaches(min)
        {
            println!(
                "coverage {:.1}% is below --min-coverage {min}",
                coverage.percent()
            );
            if code == OK {
                code = FAILED;
            }
        }
    }
    println!("\n{}", dialect_sim::report::summary(&results));
    code
}
