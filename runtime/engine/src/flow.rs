//! A loaded program made ready to run: expressions compiled once, time zones
//! and dates parsed once. Shared by every call that runs it (`Arc<Flow>`); a
//! call keeps the flow it started with.

use crate::hours::Hours;
use crate::survey::Survey;
use dialect_bytecode::{Loaded, Program};

/// A program ready to run.
#[derive(Debug)]
pub struct Flow {
    /// The graph.
    pub program: Program,
    /// The content hash of the artifact, `sha256:…`.
    pub hash: String,
    /// The compiled expressions, by index.
    pub(crate) exprs: Vec<rhai::AST>,
    /// The schedules, by index.
    pub(crate) hours: Vec<Hours>,
    /// The zone expressions read `now`, `hour`, `weekday` in: the first
    /// schedule's, or UTC.
    pub(crate) zone: jiff::tz::TimeZone,
    /// Every survey the program declares.
    pub(crate) surveys: Vec<Survey>,
    /// The campaign's automatic survey (an index into `surveys`).
    pub(crate) survey: Option<usize>,
    /// `enabled` (true unless the campaign says `enabled false`).
    pub enabled: bool,
    /// The campaign's life: its first and last day (`starts`, `ends`), in
    /// `zone`.
    pub life: (Option<jiff::civil::Date>, Option<jiff::civil::Date>),
}

impl Flow {
    /// Whether the campaign takes calls at `now`: enabled, and inside its
    /// life (from the start of `starts` to the end of `ends`, in the
    /// campaign's zone).
    pub fn admits(&self, now: jiff::Timestamp) -> Result<(), crate::Refused> {
        let campaign = self.program.name.clone();
        if !self.enabled {
            return Err(crate::Refused::Disabled(campaign));
        }
        let today = now.to_zoned(self.zone.clone()).date();
        match self.life {
            (Some(starts), _) if today < starts => Err(crate::Refused::NotRunning {
                campaign,
                why: format!("it starts on {starts}"),
            }),
            (_, Some(ends)) if today > ends => Err(crate::Refused::NotRunning {
                campaign,
                why: format!("it ended on {ends}"),
            }),
            _ => Ok(()),
        }
    }
}

/// Why a verified artifact still cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FlowError {
    /// An expression does not compile (the compiler would have refused it).
    #[error("expression #{index} does not compile: {message}")]
    Expr {
        /// Its index.
        index: usize,
        /// rhai's message.
        message: String,
    },
    /// A schedule names a time zone this runtime does not know.
    #[error("schedule `{schedule}` uses the unknown time zone `{zone}`")]
    Zone {
        /// The schedule.
        schedule: String,
        /// The zone.
        zone: String,
    },
    /// A schedule holds a date that is not a date.
    #[error("schedule `{schedule}` has the invalid date `{date}`")]
    Date {
        /// The schedule.
        schedule: String,
        /// The text.
        date: String,
    },
    /// A survey declaration is not what the compiler writes.
    #[error("survey `{survey}` cannot run: {message}")]
    Survey {
        /// The survey's qualified name.
        survey: String,
        /// What is wrong.
        message: String,
    },
}

impl Flow {
    /// Prepares a loaded, verified artifact: the only way to a flow, so
    /// what runs is what `load` verified. Expressions are compiled here,
    /// once per load, never per call.
    pub fn new(loaded: Loaded) -> Result<Flow, FlowError> {
        let hash = loaded.header.content_hash().to_string();
        Flow::prepare(loaded.program, hash)
    }

    fn prepare(program: Program, hash: String) -> Result<Flow, FlowError> {
        let engine = crate::script::engine();
        let mut exprs = Vec::with_capacity(program.exprs.len());
        for (index, src) in program.exprs.iter().enumerate() {
            let ast = engine
                .compile_expression(src)
                .map_err(|e| FlowError::Expr {
                    index,
                    message: e.to_string(),
                })?;
            exprs.push(ast);
        }
        let hours = program
            .schedules
            .iter()
            .map(Hours::new)
            .collect::<Result<Vec<_>, _>>()?;
        let zone = hours
            .first()
            .map(|h| h.zone.clone())
            .unwrap_or(jiff::tz::TimeZone::UTC);
        let (surveys, survey) = crate::survey::read(&program)?;
        let day = |name: &str| match program.settings.get(name) {
            Some(dialect_bytecode::Value::Date(d)) => d.parse::<jiff::civil::Date>().ok(),
            _ => None,
        };
        let life = (day("starts"), day("ends"));
        let enabled = !matches!(
            program.settings.get("enabled"),
            Some(dialect_bytecode::Value::Bool(false))
        );
        Ok(Flow {
            program,
            hash,
            exprs,
            hours,
            zone,
            surveys,
            survey,
            enabled,
            life,
        })
    }

    /// The campaign's name.
    pub fn name(&self) -> &str {
        &self.program.name
    }

    /// The campaign's automatic survey (its `survey` setting), if any.
    pub fn survey(&self) -> Option<&Survey> {
        self.survey.and_then(|i| self.surveys.get(i))
    }

    /// A survey the program declares, by its qualified name
    /// (`std/survey.nps`).
    pub fn find_survey(&self, name: &str) -> Option<&Survey> {
        self.surveys.iter().find(|s| s.name == name)
    }
}
