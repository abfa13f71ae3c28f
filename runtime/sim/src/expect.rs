//! The expectations of a scenario, checked against what was seen of its
//! call: each one that does not hold is a [`Failure`] with the expected and
//! the actual, and the place in the flow where the call departed.

use crate::run::{Failure, Handoff, Seen, ms, offset};
use crate::scenario::{Ended, HandoffExpect, Route, Scenario, Scheduled, SurveyExpect};
use crate::suite::Place;
use dialect_acd::directory::short;
use dialect_bot::Reason;
use dialect_engine::Outcome;
use std::collections::BTreeMap;

pub(crate) fn list<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let items: Vec<String> = items.map(|s| format!("`{s}`")).collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn show(items: &[String]) -> String {
    format!("{items:?}")
}

/// Compares the prompts (or queues) played with the expected ones, exactly.
fn exact(
    what: &str,
    expected: &[String],
    actual: &[(String, Option<Place>)],
    last: &Option<Place>,
) -> Option<Failure> {
    let names: Vec<String> = actual.iter().map(|(n, _)| n.clone()).collect();
    if names == expected {
        return None;
    }
    let i = names
        .iter()
        .zip(expected)
        .position(|(a, e)| a != e)
        .unwrap_or(names.len().min(expected.len()));
    let (label, at) = match (actual.get(i), expected.get(i)) {
        (Some((a, place)), Some(e)) => (
            format!("#{} is `{a}` here; expected `{e}`", i + 1),
            place.clone(),
        ),
        (Some((a, place)), None) => (
            format!("#{} `{a}` here was not expected", i + 1),
            place.clone(),
        ),
        (None, Some(e)) => (
            format!("the call ended here; #{} `{e}` never came", i + 1),
            last.clone(),
        ),
        (None, None) => (String::new(), last.clone()),
    };
    Some(Failure {
        expectation: what.into(),
        expected: show(expected),
        actual: show(&names),
        label,
        at,
    })
}

/// Checks that the expected prompts appear in this relative order.
fn subsequence(
    expected: &[String],
    actual: &[(String, Option<Place>)],
    last: &Option<Place>,
) -> Option<Failure> {
    let mut from = 0;
    for e in expected {
        match actual.iter().skip(from).position(|(a, _)| a == e) {
            Some(i) => from += i + 1,
            None => {
                let (label, at) = match actual.get(from) {
                    Some((a, place)) => (
                        format!("`{a}` here; expected `{e}` from here on"),
                        place.clone(),
                    ),
                    None => (format!("the call ended here without `{e}`"), last.clone()),
                };
                let names: Vec<String> = actual.iter().map(|(n, _)| n.clone()).collect();
                return Some(Failure {
                    expectation: "prompts_include".into(),
                    expected: show(expected),
                    actual: show(&names),
                    label,
                    at,
                });
            }
        }
    }
    None
}

fn first_or_none(items: &[(String, Option<Place>)]) -> String {
    items
        .first()
        .map_or_else(|| "none".to_string(), |(n, _)| n.clone())
}

fn yes_no(b: bool) -> String {
    b.to_string()
}

/// Every expectation of a scenario whose call ended.
pub(crate) fn check(scenario: &Scenario, seen: &Seen, failures: &mut Vec<Failure>) {
    let expect = &scenario.expect;
    let last = &seen.last;
    check_wrap_up(expect, seen, failures);
    if let Some(expected) = &expect.prompts {
        failures.extend(exact("prompts", expected, &seen.prompts, last));
    }
    if let Some(expected) = &expect.prompts_include {
        failures.extend(subsequence(expected, &seen.prompts, last));
    }
    if let Some(expected) = &expect.queues {
        failures.extend(exact("queues", expected, &seen.queues, last));
    }
    if let Some(route) = expect.route {
        let actual = if seen.connected.is_some() {
            Route::Connected
        } else {
            Route::None
        };
        if actual != route {
            failures.push(Failure {
                expectation: "route".into(),
                expected: route.word().into(),
                actual: actual.word().into(),
                label: match &seen.connected {
                    Some(_) => "the call was connected here".into(),
                    None => "the call ended here without being connected".into(),
                },
                at: seen.connected.clone().flatten().or_else(|| last.clone()),
            });
        }
    }
    if let Some(agent) = &expect.agent
        && seen.agent.as_ref() != Some(agent)
    {
        failures.push(Failure {
            expectation: "agent".into(),
            expected: agent.clone(),
            actual: seen.agent.clone().unwrap_or_else(|| "none".into()),
            label: match &seen.agent {
                Some(a) => format!("{a} took the call here"),
                None => "the call ended here; no agent took it".into(),
            },
            at: seen.connected.clone().flatten().or_else(|| last.clone()),
        });
    }
    if let Some(expected) = expect.connected_at
        && seen.connected_at != Some(ms(expected))
    {
        failures.push(Failure {
            expectation: "connected_at".into(),
            expected: offset(ms(expected)),
            actual: seen
                .connected_at
                .map_or_else(|| "never connected".into(), offset),
            label: match seen.connected_at {
                Some(at) => format!("the call was connected here at {}", offset(at)),
                None => "the call ended here without being connected".into(),
            },
            at: seen.connected.clone().flatten().or_else(|| last.clone()),
        });
    }
    let firsts = [
        ("dialled_out", &expect.dialled_out, &seen.dials, "dialled"),
        (
            "transfer",
            &expect.transfer,
            &seen.transfers,
            "transferred to",
        ),
    ];
    for (what, expected, actual, verb) in firsts {
        if let Some(expected) = expected
            && actual.first().map(|(n, _)| n) != Some(expected)
        {
            failures.push(Failure {
                expectation: what.into(),
                expected: expected.clone(),
                actual: first_or_none(actual),
                label: match actual.first() {
                    Some((n, _)) => format!("{verb} {n} here"),
                    None => "the call ended here".into(),
                },
                at: actual
                    .first()
                    .and_then(|(_, p)| p.clone())
                    .or_else(|| last.clone()),
            });
        }
    }
    let flags = [
        (
            "voicemail",
            expect.voicemail,
            &seen.record,
            "recorded a message",
        ),
        (
            "callback",
            expect.callback,
            &seen.callback,
            "registered a callback",
        ),
        (
            "no_survey",
            expect.no_survey,
            &seen.no_survey,
            "marked no survey",
        ),
    ];
    for (what, expected, actual, verb) in flags {
        if let Some(expected) = expected
            && expected != actual.is_some()
        {
            failures.push(Failure {
                expectation: what.into(),
                expected: yes_no(expected),
                actual: yes_no(actual.is_some()),
                label: match actual {
                    Some(_) => format!("the call {verb} here"),
                    None => format!("the call ended here; it never {verb}"),
                },
                at: actual.clone().flatten().or_else(|| last.clone()),
            });
        }
    }
    if let Some(expected) = &expect.survey {
        failures.extend(check_survey(expected, seen));
    }
    check_handoff(scenario, seen, failures);
    if let Some(expected) = &expect.bot_said {
        failures.extend(check_bot_said(expected, seen));
    }
    if let Some(expected) = expect.survey_scheduled {
        failures.extend(check_scheduled(expected, seen));
    }
    for (name, expected) in &expect.vars {
        let actual = seen.vars.get(name);
        if actual != Some(expected) {
            failures.push(Failure {
                expectation: format!("vars.{name}"),
                expected: format!("{expected:?}"),
                actual: actual.map_or_else(|| "unset".into(), |a| format!("{a:?}")),
                label: format!(
                    "the call ended here with `{name}` {}",
                    actual.map_or("unset".to_string(), |a| format!("= {a}"))
                ),
                at: last.clone(),
            });
        }
    }
    if let Some((outcome, at, place)) = &seen.ended {
        let actual = match outcome {
            Outcome::HungUp { .. } => Ended::Hangup,
            Outcome::CallerHungUp => Ended::Caller,
            Outcome::Failed { .. } => Ended::Failed,
        };
        if actual != expect.ended {
            let why = match outcome {
                Outcome::Failed { error } => format!(" ({error})"),
                _ => String::new(),
            };
            failures.push(Failure {
                expectation: "ended".into(),
                expected: expect.ended.word().into(),
                actual: format!("{}{why}", actual.word()),
                label: format!("the call ended here: {}", actual.word()),
                at: place.clone(),
            });
        }
        if let Some(expected) = expect.ended_at
            && ms(expected) != *at
        {
            failures.push(Failure {
                expectation: "ended_at".into(),
                expected: offset(ms(expected)),
                actual: offset(*at),
                label: format!("the call ended here at {}", offset(*at)),
                at: place.clone(),
            });
        }
    }
}

/// The detail of a handoff reason, as `expect.handoff` writes it after
/// the code.
fn reason_detail(reason: &Reason) -> Option<&str> {
    match reason {
        Reason::Phrase(p) | Reason::AsksForHuman(p) => Some(p),
        Reason::BotRequested(r) => r.as_deref(),
        Reason::Paused | Reason::CannotAnswer => None,
    }
}

/// A handoff as `expect.handoff` writes it.
fn handoff_word(handoff: Option<&Handoff>) -> String {
    match handoff.map(|h| &h.reason) {
        None => "none".into(),
        Some(None) => "a scripted `handoff` reply (no trigger, no routing)".into(),
        Some(Some(reason)) => match reason_detail(reason) {
            Some(detail) => format!("{}:{detail}", reason.code()),
            None => reason.code().into(),
        },
    }
}

/// `expect.handoff`, `handoff_team`, `handoff_owner`, `handoff_users` and
/// `ticket`: the first handoff of the call and where it was routed.
fn check_handoff(scenario: &Scenario, seen: &Seen, failures: &mut Vec<Failure>) {
    let expect = &scenario.expect;
    let handoff = seen.handoff.as_ref().map(|(h, _)| h);
    let at = seen
        .handoff
        .as_ref()
        .and_then(|(_, p)| p.clone())
        .or_else(|| seen.last.clone());
    let label = |what: String| match handoff {
        Some(_) => format!("the customer agent handed off here: {what}"),
        None => "the call ended here; the customer agent handed nothing off".to_string(),
    };
    if let Some(expected) = &expect.handoff {
        let holds = match (expected, handoff.map(|h| &h.reason)) {
            (HandoffExpect::None, None) => true,
            (HandoffExpect::Reason { code, detail }, Some(Some(reason))) => {
                reason.code() == code
                    && detail
                        .as_deref()
                        .is_none_or(|d| reason_detail(reason) == Some(d))
            }
            _ => false,
        };
        if !holds {
            let actual = handoff_word(handoff);
            failures.push(Failure {
                expectation: "handoff".into(),
                expected: expected.to_string(),
                actual: actual.clone(),
                label: label(actual),
                at: at.clone(),
            });
        }
    }
    let none = || "none".to_string();
    let routed = |what: &str, value: String| match handoff {
        Some(_) => value,
        None => format!("{what} (no handoff)"),
    };
    if let Some(expected) = &expect.handoff_team {
        let actual = handoff.and_then(|h| h.team.clone()).unwrap_or_else(none);
        if handoff.is_none() || &actual != expected {
            failures.push(Failure {
                expectation: "handoff_team".into(),
                expected: expected.clone(),
                actual: routed("none", actual.clone()),
                label: label(format!("team {actual}")),
                at: at.clone(),
            });
        }
    }
    if let Some(expected) = &expect.handoff_owner {
        let actual = handoff
            .and_then(|h| h.owner.as_deref())
            .map_or_else(none, |o| short(o).to_string());
        if handoff.is_none() || actual != short(expected) {
            failures.push(Failure {
                expectation: "handoff_owner".into(),
                expected: expected.clone(),
                actual: routed("none", actual.clone()),
                label: label(format!("owner {actual}")),
                at: at.clone(),
            });
        }
    }
    if let Some(expected) = &expect.handoff_users {
        let actual: Vec<String> = handoff
            .map(|h| h.users.iter().map(|u| short(u).to_string()).collect())
            .unwrap_or_default();
        let wanted: Vec<String> = expected.iter().map(|u| short(u).to_string()).collect();
        if handoff.is_none() || actual != wanted {
            failures.push(Failure {
                expectation: "handoff_users".into(),
                expected: show(expected),
                actual: routed("[]", show(&actual)),
                label: label(format!("users {}", show(&actual))),
                at: at.clone(),
            });
        }
    }
    if let Some(expected) = expect.ticket
        && expected != seen.ticket.is_some()
    {
        failures.push(Failure {
            expectation: "ticket".into(),
            expected: yes_no(expected),
            actual: yes_no(seen.ticket.is_some()),
            label: match &seen.ticket {
                Some(_) => "a handoff opened a ticket here".into(),
                None => match handoff {
                    Some(_) => {
                        "the customer agent handed off here, live to a team or users: no ticket"
                            .into()
                    }
                    None => "the call ended here; no handoff opened a ticket".into(),
                },
            },
            at: seen.ticket.clone().flatten().or(at),
        });
    }
}

/// `expect.bot_said`: each text is part of something the customer agent
/// said, in this order.
fn check_bot_said(expected: &[String], seen: &Seen) -> Option<Failure> {
    let mut from = 0;
    for e in expected {
        match seen
            .bot_said
            .iter()
            .skip(from)
            .position(|(said, _)| said.contains(e.as_str()))
        {
            Some(i) => from += i + 1,
            None => {
                let (label, at) = match seen.bot_said.get(from) {
                    Some((said, place)) => (
                        format!("the bot said {said:?} here; expected {e:?} from here on"),
                        place.clone(),
                    ),
                    None => (
                        format!("the call ended here; the bot never said {e:?}"),
                        seen.last.clone(),
                    ),
                };
                let said: Vec<String> = seen.bot_said.iter().map(|(s, _)| s.clone()).collect();
                return Some(Failure {
                    expectation: "bot_said".into(),
                    expected: show(expected),
                    actual: show(&said),
                    label,
                    at,
                });
            }
        }
    }
    None
}

/// `expect.survey`: whether a survey ran, and its answers.
fn check_survey(expected: &SurveyExpect, seen: &Seen) -> Option<Failure> {
    let ran = seen.survey.is_some();
    let start = seen.survey.as_ref().and_then(|(_, p)| p.clone());
    // Unanswered questions compare as "", and "" as not named.
    let actual: BTreeMap<&str, &str> = seen
        .answers
        .iter()
        .filter_map(|(q, a, _)| a.as_deref().map(|a| (q.as_str(), a)))
        .collect();
    let shown = || {
        let all: Vec<String> = seen
            .answers
            .iter()
            .map(|(q, a, _)| format!("{q} = {:?}", a.as_deref().unwrap_or("")))
            .collect();
        match (ran, all.is_empty()) {
            (false, _) => "no survey".to_string(),
            (true, true) => "a survey started, no question was answered".to_string(),
            (true, false) => format!("{{ {} }}", all.join(", ")),
        }
    };
    match expected {
        SurveyExpect::Ran(want) if *want == ran => None,
        SurveyExpect::Ran(want) => Some(Failure {
            expectation: "survey".into(),
            expected: yes_no(*want),
            actual: shown(),
            label: if ran {
                "a survey started here".into()
            } else {
                "the call ended here without a survey".into()
            },
            at: if ran { start } else { seen.last.clone() },
        }),
        SurveyExpect::Answers(answers) => {
            let wanted: BTreeMap<&str, &str> = answers
                .iter()
                .filter(|(_, a)| !a.is_empty())
                .map(|(q, a)| (q.as_str(), a.as_str()))
                .collect();
            if ran && wanted == actual {
                return None;
            }
            let expected_text = format!(
                "{{ {} }}",
                answers
                    .iter()
                    .map(|(q, a)| format!("{q} = {a:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            // The first answer that differs, or where the survey started.
            let differs = seen.answers.iter().find(|(q, a, _)| {
                wanted.get(q.as_str()).copied().unwrap_or("") != a.as_deref().unwrap_or("")
            });
            let (label, at) = match (ran, differs) {
                (false, _) => (
                    "the call ended here without a survey".to_string(),
                    seen.last.clone(),
                ),
                (true, Some((q, a, place))) => (
                    format!(
                        "`{q}` was answered {} here",
                        a.as_deref()
                            .map_or("nothing".to_string(), |a| format!("`{a}`"))
                    ),
                    place.clone(),
                ),
                (true, None) => (
                    "the survey ended here without every expected answer".to_string(),
                    seen.answers
                        .last()
                        .and_then(|(_, _, p)| p.clone())
                        .or_else(|| seen.last.clone()),
                ),
            };
            Some(Failure {
                expectation: "survey".into(),
                expected: expected_text,
                actual: shown(),
                label,
                at,
            })
        }
    }
}

/// `expect.survey_scheduled`: the outbound survey scheduled at the end.
fn check_scheduled(expected: Scheduled, seen: &Seen) -> Option<Failure> {
    let actual = seen.scheduled.as_ref().map(|(ms, _)| *ms);
    let holds = match expected {
        Scheduled::No => actual.is_none(),
        Scheduled::Yes => actual.is_some(),
        Scheduled::After(ms) => actual == Some(ms),
    };
    if holds {
        return None;
    }
    let word = |s: Option<u64>| {
        s.map_or_else(
            || "false".to_string(),
            |ms| format!("{:?}", dialect_compiler::diagnostic::human_ms(ms)),
        )
    };
    Some(Failure {
        expectation: "survey_scheduled".into(),
        expected: match expected {
            Scheduled::No => "false".into(),
            Scheduled::Yes => "true".into(),
            Scheduled::After(ms) => word(Some(ms)),
        },
        actual: word(actual),
        label: match actual {
            Some(ms) => format!(
                "a survey was scheduled here, {} after the call",
                dialect_compiler::diagnostic::human_ms(ms)
            ),
            None => "the call ended here; no survey was scheduled".into(),
        },
        at: seen
            .scheduled
            .as_ref()
            .and_then(|(_, p)| p.clone())
            .or_else(|| seen.last.clone()),
    })
}

/// `classified`, `recall`, `blacklisted`: what the agent's wrap-up did.
fn check_wrap_up(expect: &crate::scenario::Expect, seen: &Seen, failures: &mut Vec<Failure>) {
    let done = seen.wrap_up.as_ref();
    let words = |what: &str| match done {
        None => "no wrap-up (no agent with a `classifier` finished the call)".to_string(),
        Some(Err(why)) => why.clone(),
        Some(Ok((classifier, recall, blacklisted))) => match what {
            "classified" => classifier.clone(),
            "recall" => recall.clone(),
            _ => blacklisted.to_string(),
        },
    };
    let mut compare = |what: &str, expected: String| {
        let actual = words(what);
        if actual != expected {
            failures.push(Failure {
                expectation: what.into(),
                expected,
                actual: actual.clone(),
                label: format!("the wrap-up: {actual}"),
                at: seen.last.clone(),
            });
        }
    };
    if let Some(expected) = &expect.classified {
        compare("classified", expected.clone());
    }
    if let Some(expected) = &expect.recall {
        compare("recall", expected.clone());
    }
    if let Some(expected) = expect.blacklisted {
        compare("blacklisted", expected.to_string());
    }
    if let Some(expected) = &expect.alerts
        && *expected != seen.alerts
    {
        failures.push(Failure {
            expectation: "alerts".into(),
            expected: show(expected),
            actual: show(&seen.alerts),
            label: format!("alerts raised and cleared: {}", show(&seen.alerts)),
            at: seen.last.clone(),
        });
    }
}
