//! `dialect records import|export`: a campaign's customer records in and
//! out of the embedded database, as CSV.
//!
//! Import: the header names the columns: `phone` (and `phone2`, `phone3`,
//! ...: the record's numbers, at least one), `email`, and the campaign's
//! `field`s. Every row is checked (required fields, PESEL/NIP/REGON
//! checksums, phone numbers to E.164 with the campaign's `country_code`,
//! e-mail addresses); one bad row refuses the file, with a report of every
//! bad row by line, and nothing is imported. Export writes every record of
//! the campaign, the same columns, to standard output.

use super::{FAILED, Inputs, OK, USAGE};
use dialect_server::database::{Database, Store};
use dialect_store::fields::{self, FieldType};
use dialect_store::{NewRecord, SqliteStore};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Bad rows shown in an import's report; the rest are counted.
const REPORTED: usize = 100;

/// Options of `dialect records`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Check every row of a CSV file and add them all to the campaign's
    /// records, or none.
    Import {
        /// The campaign (its name in the flows).
        campaign: String,
        /// The CSV file (first line: the column names).
        file: PathBuf,
        #[command(flatten)]
        inputs: Inputs,
        /// The data directory whose database gets the records.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The server's configuration: its `[runtime] database` (when set,
        /// it gets the records instead of `--data`'s) and its `[webhooks]
        /// url` (the `record_added` events go where the server sends
        /// events).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write the campaign's records to standard output as CSV.
    Export {
        /// The campaign.
        campaign: String,
        #[command(flatten)]
        inputs: Inputs,
        /// The data directory whose database holds the records.
        #[arg(long, default_value = "data")]
        data: PathBuf,
        /// The server's configuration: its `[runtime] database`, when set,
        /// holds the records instead of `--data`'s.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// A campaign's columns: its fields' types and whether they are required,
/// and its country code.
struct Columns {
    fields: BTreeMap<String, (FieldType, bool)>,
    country_code: String,
    /// The campaign's webhook subscriptions: (event, URL).
    hooks: Vec<(String, String)>,
}

fn columns(inputs: &Inputs, campaign: &str) -> Result<Columns, i32> {
    let compilation = inputs.compile();
    // Quiet when the flows compile: an export's standard output is CSV.
    if compilation.has_errors() {
        let code = super::check::report(&compilation, super::check::Format::Human, false);
        eprintln!("error: the flows do not compile");
        return Err(code.max(FAILED));
    }
    let Some(program) = compilation.programs.iter().find(|p| p.name == campaign) else {
        let names: Vec<&str> = compilation
            .programs
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        eprintln!(
            "error: no campaign `{campaign}` in the flows (they have: {})",
            names.join(", ")
        );
        return Err(USAGE);
    };
    let text = |value: Option<&dialect_bytecode::Value>| match value {
        Some(dialect_bytecode::Value::Word(w) | dialect_bytecode::Value::Text(w)) => w.clone(),
        Some(dialect_bytecode::Value::Phone(p)) => p.clone(),
        _ => String::new(),
    };
    let fields = program
        .sections
        .iter()
        .filter(|s| s.kind == "field")
        .map(|s| {
            let kind = FieldType::from_flow(&text(s.settings.get("type")));
            let required = matches!(
                s.settings.get("required"),
                Some(dialect_bytecode::Value::Bool(true))
            );
            (s.name.clone(), (kind, required))
        })
        .collect();
    let country_code = match text(program.settings.get("country_code")) {
        code if code.is_empty() => "48".to_string(),
        code => code.trim_start_matches('+').to_string(),
    };
    Ok(Columns {
        fields,
        country_code,
        hooks: dialect_server::webhook_subscriptions(program),
    })
}

/// Runs `dialect records`.
pub fn run(args: &Args) -> i32 {
    match &args.action {
        Action::Import {
            campaign,
            file,
            inputs,
            data,
            config,
        } => import(campaign, file, inputs, data, config.as_deref()),
        Action::Export {
            campaign,
            inputs,
            data,
            config,
        } => export(campaign, inputs, data, config.as_deref()),
    }
}

/// The database: the configuration's `[runtime] database` when it sets
/// one, else `dialect.sqlite` in `data`.
fn open(
    data: &std::path::Path,
    config: Option<&dialect_server::config::Config>,
) -> Result<Box<dyn Store>, i32> {
    if let Some(config) = config
        && config.runtime.database.is_some()
    {
        return Database::of(config).open().map_err(|err| {
            eprintln!("error: {err}");
            USAGE
        });
    }
    if let Err(err) = std::fs::create_dir_all(data) {
        eprintln!("error: cannot create {}: {err}", data.display());
        return Err(USAGE);
    }
    match SqliteStore::open(data.join("dialect.sqlite")) {
        Ok(store) => Ok(Box::new(store)),
        Err(err) => {
            eprintln!("error: {err}");
            Err(USAGE)
        }
    }
}

/// The configuration at `path`, if any.
fn load(path: Option<&std::path::Path>) -> Result<Option<dialect_server::config::Config>, i32> {
    path.map(dialect_server::config::Config::load)
        .transpose()
        .map_err(|err| {
            eprintln!("error: {err}");
            USAGE
        })
}

/// What a column of the file holds.
enum Column {
    Phone,
    Email,
    Field(String, FieldType),
}

fn import(
    campaign: &str,
    file: &std::path::Path,
    inputs: &Inputs,
    data: &std::path::Path,
    config: Option<&std::path::Path>,
) -> i32 {
    let config = match load(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let hook_url = config.as_ref().and_then(|c| c.webhooks.url.clone());
    let columns = match columns(inputs, campaign) {
        Ok(columns) => columns,
        Err(code) => return code,
    };
    let mut reader = match csv::ReaderBuilder::new().flexible(false).from_path(file) {
        Ok(reader) => reader,
        Err(err) => {
            eprintln!("error: cannot read {}: {err}", file.display());
            return USAGE;
        }
    };
    let header: Vec<String> = match reader.headers() {
        Ok(header) => header.iter().map(|h| h.trim().to_string()).collect(),
        Err(err) => {
            eprintln!("error: {}: line 1: {err}", file.display());
            return FAILED;
        }
    };
    // The header: known columns only, each once, a phone column, every
    // required field.
    let mut plan = Vec::with_capacity(header.len());
    let mut problems = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if header.get(..i).is_some_and(|before| before.contains(name)) {
            problems.push(format!("column `{name}` is given twice"));
        }
        plan.push(if name == "phone" || name.strip_prefix("phone").is_some_and(|n| n.parse::<u8>().is_ok()) {
            Column::Phone
        } else if name == "email" {
            Column::Email
        } else if let Some((kind, _)) = columns.fields.get(name) {
            Column::Field(name.clone(), *kind)
        } else {
            let known: Vec<&str> = columns.fields.keys().map(String::as_str).collect();
            problems.push(format!(
                "column `{name}` is not a field of `{campaign}` (its fields: {}; and phone, phone2..., email)",
                known.join(", ")
            ));
            Column::Email
        });
    }
    if !plan.iter().any(|c| matches!(c, Column::Phone)) {
        problems.push("no `phone` column: a record is found by its phone numbers".into());
    }
    for (name, (_, required)) in &columns.fields {
        if *required && !header.contains(name) {
            problems.push(format!("no `{name}` column, and the field is required"));
        }
    }
    if !problems.is_empty() {
        eprintln!("error: {}: line 1 (the column names):", file.display());
        for problem in problems {
            eprintln!("  {problem}");
        }
        eprintln!("nothing was imported");
        return FAILED;
    }
    let progress = std::io::stderr().is_terminal();
    let mut records = Vec::new();
    let mut bad: Vec<String> = Vec::new();
    let mut bad_rows = 0usize;
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(err) => {
                bad_rows += 1;
                let line = err.position().map_or(0, |p| p.line());
                if bad.len() < REPORTED {
                    bad.push(format!("line {line}: {err}"));
                }
                continue;
            }
        };
        let line = row.position().map_or(0, |p| p.line());
        let mut record = NewRecord::default();
        let mut wrong = Vec::new();
        for (column, value) in plan.iter().zip(row.iter()) {
            let value = value.trim();
            match column {
                Column::Phone if value.is_empty() => {}
                Column::Phone => match fields::phone(value, &columns.country_code) {
                    Ok(number) => record.numbers.push(number),
                    Err(e) => wrong.push(e.to_string()),
                },
                Column::Email if value.is_empty() => {}
                Column::Email => match fields::email(value) {
                    Ok(email) => {
                        record.fields.insert("email".into(), email);
                    }
                    Err(e) => wrong.push(e.to_string()),
                },
                Column::Field(name, _) if value.is_empty() => {
                    if columns
                        .fields
                        .get(name)
                        .is_some_and(|(_, required)| *required)
                    {
                        wrong.push(format!("`{name}` is required"));
                    }
                }
                Column::Field(name, kind) => {
                    match fields::check(*kind, value, &columns.country_code) {
                        Ok(value) => {
                            record.fields.insert(name.clone(), value);
                        }
                        Err(e) => wrong.push(format!("`{name}`: {e}")),
                    }
                }
            }
        }
        if record.numbers.is_empty() && wrong.is_empty() {
            wrong.push("no phone number".into());
        }
        if wrong.is_empty() {
            records.push(record);
        } else {
            bad_rows += 1;
            if bad.len() < REPORTED {
                bad.push(format!("line {line}: {}", wrong.join("; ")));
            }
        }
        if progress && (records.len() + bad_rows).is_multiple_of(10_000) {
            eprint!("\rchecked {} rows", records.len() + bad_rows);
        }
    }
    if progress {
        eprintln!();
    }
    if bad_rows > 0 {
        eprintln!(
            "error: {}: {bad_rows} bad row(s); nothing was imported",
            file.display()
        );
        for line in &bad {
            eprintln!("  {line}");
        }
        if bad_rows > bad.len() {
            eprintln!("  ... and {} more", bad_rows - bad.len());
        }
        return FAILED;
    }
    let store = match open(data, config.as_ref()) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let now = jiff::Timestamp::now();
    let ids = match store.import_records(campaign, &records, now) {
        Ok(ids) => ids,
        Err(err) => {
            eprintln!("error: nothing was imported: {err}");
            return FAILED;
        }
    };
    println!("imported {} record(s) into `{campaign}`", ids.len());
    // `record_added` for the campaign's subscribers, through the webhook
    // outbox: the server delivers them (at its start, or within 30 s).
    let urls: Vec<String> = columns
        .hooks
        .iter()
        .filter(|(event, _)| event == "record_added")
        .map(|(_, url)| hook_url.clone().unwrap_or_else(|| url.clone()))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if urls.is_empty() {
        return OK;
    }
    let events: Vec<dialect_store::NewEvent> = ids
        .iter()
        .zip(&records)
        .flat_map(|(id, record)| {
            urls.iter().map(move |url| dialect_store::NewEvent {
                campaign: campaign.to_string(),
                call: format!("record-{id}"),
                event: "record_added".into(),
                url: url.clone(),
                at: now,
                data: serde_json::json!({
                    "record": id,
                    "numbers": record.numbers,
                    "fields": record.fields,
                }),
            })
        })
        .collect();
    match store.enqueue(&events, now) {
        Ok(_) => {
            println!(
                "queued {} record_added event(s) for {}",
                events.len(),
                urls.join(", ")
            );
            OK
        }
        Err(err) => {
            eprintln!(
                "error: the records were imported, but their record_added events were not queued: {err}"
            );
            FAILED
        }
    }
}

fn export(
    campaign: &str,
    inputs: &Inputs,
    data: &std::path::Path,
    config: Option<&std::path::Path>,
) -> i32 {
    let config = match load(config) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let columns = match columns(inputs, campaign) {
        Ok(columns) => columns,
        Err(code) => return code,
    };
    let store = match open(data, config.as_ref()) {
        Ok(store) => store,
        Err(code) => return code,
    };
    let records = match store.all_records(campaign) {
        Ok(records) => records,
        Err(err) => {
            eprintln!("error: {err}");
            return FAILED;
        }
    };
    let phones = records
        .iter()
        .map(|r| r.numbers.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut header: Vec<String> = (1..=phones)
        .map(|n| {
            if n == 1 {
                "phone".to_string()
            } else {
                format!("phone{n}")
            }
        })
        .collect();
    header.push("email".into());
    header.extend(columns.fields.keys().cloned());
    let mut writer = csv::Writer::from_writer(std::io::stdout().lock());
    let mut write = || -> Result<(), csv::Error> {
        writer.write_record(&header)?;
        for record in &records {
            let mut row: Vec<&str> = (0..phones)
                .map(|i| record.numbers.get(i).map_or("", String::as_str))
                .collect();
            row.push(record.fields.get("email").map_or("", String::as_str));
            for name in columns.fields.keys() {
                row.push(record.fields.get(name).map_or("", String::as_str));
            }
            writer.write_record(&row)?;
        }
        writer.flush()?;
        Ok(())
    };
    match write() {
        Ok(()) => OK,
        Err(err) => {
            eprintln!("error: {err}");
            USAGE
        }
    }
}
