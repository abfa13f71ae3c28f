//! Where a handoff goes when it becomes a ticket (chat handoffs and
//! asynchronous handoffs).
//!
//! 1. The handoff's `rule`s are tried in order; the first whose condition
//!    holds chooses the team. A condition sees the variables `channel`,
//!    `language` (empty when unknown), `caller`, `reason` (a
//!    [`Reason::code`](crate::Reason::code)), `text` (what the caller
//!    said) and `record` (a map of the record's fields). A condition that
//!    fails to compile or to run, or gives something other than `true` or
//!    `false`, counts as false and is reported in
//!    [`Assignment::warnings`].
//! 2. Otherwise the ticket goes to the handoff's first team and its users.
//! 3. With `rotate_by_channel`, the owner rotates round-robin among the
//!    chosen team's members (the handoff's users when there is no team),
//!    with one counter per (team, source channel); without it the ticket
//!    has no owner and waits in the team's queue.

use crate::config::{HandoffRules, Mode};
use crate::conversation::{Conversation, Speaker};
use dialect_bytecode::Prompt;
use std::collections::{BTreeMap, HashMap};

/// Most operations one rule may take.
pub const MAX_OPERATIONS: u64 = 50_000;

/// What the router knows about a ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TicketFacts {
    /// The source channel (`voice`, `chat`, `mail`, ...).
    pub channel: String,
    /// The conversation's language, if known.
    pub language: Option<String>,
    /// The caller: an E.164 number or a visitor id.
    pub caller: String,
    /// Why it was handed off ([`Reason::code`](crate::Reason::code)).
    pub reason: String,
    /// What the caller said (the transcript's caller lines, or the last).
    pub text: String,
    /// The identified record's fields (empty when none).
    pub record: BTreeMap<String, String>,
}

impl TicketFacts {
    /// The facts of a conversation handed off for the reason whose code is
    /// `reason` ([`Reason::code`](crate::Reason::code)): its language, and what the caller said
    /// last.
    pub fn of(
        conversation: &Conversation,
        channel: &str,
        caller: &str,
        reason: &str,
    ) -> TicketFacts {
        TicketFacts {
            channel: channel.to_string(),
            language: conversation.language().map(str::to_string),
            caller: caller.to_string(),
            reason: reason.to_string(),
            text: conversation
                .transcript()
                .iter()
                .rev()
                .find(|(who, _)| *who == Speaker::Caller)
                .map(|(_, t)| t.clone())
                .unwrap_or_default(),
            record: BTreeMap::new(),
        }
    }
}

/// What a call's handoff comes to, the same under `dialect serve` and
/// `dialect test`.
#[derive(Clone, Debug, PartialEq)]
pub struct Handoff {
    /// Where it goes.
    pub assignment: Assignment,
    /// Whether anyone it goes to is available now.
    pub available: bool,
    /// Whether it becomes a ticket: the handoff is asynchronous, or nobody
    /// was assigned.
    pub ticket: bool,
    /// What the caller hears.
    pub message: Option<Prompt>,
}

/// Where a ticket goes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    /// The team (qualified name), if any.
    pub team: Option<String>,
    /// Users (agents' qualified names) it is assigned to.
    pub users: Vec<String>,
    /// The owner, when the owner rotates.
    pub owner: Option<String>,
    /// Rules that failed, with why.
    pub warnings: Vec<String>,
}

impl Assignment {
    /// Whether nobody was assigned: no team, no user, no owner (the
    /// handoff's `message_unassigned` and `unassigned` apply).
    pub fn is_unassigned(&self) -> bool {
        self.team.is_none() && self.users.is_empty() && self.owner.is_none()
    }
}

/// Routes tickets. Keeps the compiled rules and the rotation counters, so
/// one router serves every handoff of a server or a simulation.
pub struct Router {
    engine: rhai::Engine,
    compiled: HashMap<String, Result<rhai::AST, String>>,
    turns: HashMap<(String, String), usize>,
}

impl Default for Router {
    fn default() -> Router {
        Router::new()
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("compiled", &self.compiled.len())
            .field("turns", &self.turns)
            .finish()
    }
}

impl Router {
    /// A router with no rule compiled and every rotation at its start.
    pub fn new() -> Router {
        let mut engine = rhai::Engine::new();
        engine.set_max_operations(MAX_OPERATIONS);
        engine.set_max_string_size(16 * 1024);
        engine.set_max_array_size(1_000);
        engine.set_max_map_size(1_000);
        engine.set_max_call_levels(16);
        engine.set_max_expr_depths(64, 32);
        Router {
            engine,
            compiled: HashMap::new(),
            turns: HashMap::new(),
        }
    }

    /// A call's handoff: routed by `rules`; `available` says whether an
    /// agent (a team member as `teams` names them, or a user's qualified
    /// name) can take it now. The message is `message_unassigned` (else
    /// `message_unavailable`) for a ticket, else `message_available` or
    /// `message_unavailable`.
    pub fn handoff(
        &mut self,
        rules: &HandoffRules,
        facts: &TicketFacts,
        teams: &dyn Fn(&str) -> Vec<String>,
        available: &dyn Fn(&str) -> bool,
    ) -> Handoff {
        let assignment = self.route(rules, facts, teams);
        let anyone = assignment
            .team
            .iter()
            .flat_map(|t| teams(t))
            .chain(assignment.users.iter().cloned())
            .any(|agent| available(&agent));
        let ticket = rules.mode == Mode::Async || assignment.is_unassigned();
        let message = if ticket {
            rules
                .message_unassigned
                .clone()
                .or_else(|| rules.message_unavailable.clone())
        } else if anyone {
            rules.message_available.clone()
        } else {
            rules.message_unavailable.clone()
        };
        Handoff {
            assignment,
            available: anyone,
            ticket,
            message,
        }
    }

    /// Routes one ticket by `rules`. `teams` gives a team's members
    /// (agents' qualified names, in a stable order).
    pub fn route(
        &mut self,
        rules: &HandoffRules,
        ticket: &TicketFacts,
        teams: &dyn Fn(&str) -> Vec<String>,
    ) -> Assignment {
        let mut out = Assignment::default();
        let mut chosen = None;
        for (n, (source, team)) in rules.rules.iter().enumerate() {
            match self.holds(source, ticket) {
                Ok(true) => {
                    chosen = Some(team.clone());
                    break;
                }
                Ok(false) => {}
                Err(why) => out
                    .warnings
                    .push(format!("rule {} `{source}`: {why}", n + 1)),
            }
        }
        match chosen {
            Some(team) => out.team = Some(team),
            None => {
                out.team = rules.teams.first().cloned();
                out.users.clone_from(&rules.users);
            }
        }
        if rules.rotate_by_channel {
            let (key, candidates) = match &out.team {
                Some(team) => (team.clone(), teams(team)),
                None => (String::new(), out.users.clone()),
            };
            if candidates.is_empty() {
                if let Some(team) = &out.team {
                    out.warnings
                        .push(format!("team {team} has no members to own the ticket"));
                }
            } else {
                let turn = self.turns.entry((key, ticket.channel.clone())).or_insert(0);
                out.owner = candidates.get(*turn % candidates.len()).cloned();
                *turn = turn.wrapping_add(1);
            }
        }
        out
    }

    /// Whether a rule's condition holds for a ticket.
    fn holds(&mut self, source: &str, ticket: &TicketFacts) -> Result<bool, String> {
        let engine = &self.engine;
        let ast = self
            .compiled
            .entry(source.to_owned())
            .or_insert_with(|| engine.compile_expression(source).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)?;
        let mut scope = rhai::Scope::new();
        scope.push("channel", ticket.channel.clone());
        scope.push("language", ticket.language.clone().unwrap_or_default());
        scope.push("caller", ticket.caller.clone());
        scope.push("reason", ticket.reason.clone());
        scope.push("text", ticket.text.clone());
        let record: rhai::Map = ticket
            .record
            .iter()
            .map(|(k, v)| (k.as_str().into(), rhai::Dynamic::from(v.clone())))
            .collect();
        scope.push("record", record);
        let value = engine
            .eval_ast_with_scope::<rhai::Dynamic>(&mut scope, ast)
            .map_err(|e| e.to_string())?;
        value
            .as_bool()
            .map_err(|found| format!("gave {found}, not true or false"))
    }
}
