//! Each ACD rule as a small table of events and the offers they must cause.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_acd::{Acd, Action, Rules, State};
use proptest::prelude::*;

fn offers(acd: &mut Acd) -> Vec<(u64, String)> {
    std::iter::from_fn(|| acd.poll_action())
        .filter_map(|a| match a {
            Action::Offer { call, agent } => Some((call, agent)),
            Action::Withdraw { .. } => None,
        })
        .collect()
}

fn offer(call: u64, agent: &str) -> (u64, String) {
    (call, agent.to_string())
}

#[test]
fn the_longest_idle_agent_gets_the_call() {
    let mut acd = Acd::new(Rules::default());
    acd.add_agent("alice", &[]);
    acd.add_agent("bob", &[]);
    acd.set_ready("bob", 0);
    acd.set_ready("alice", 5_000);
    acd.enqueue(1, None, 0, 10_000);
    assert_eq!(offers(&mut acd), [offer(1, "bob")]);
}

#[test]
fn only_agents_with_the_skill_are_offered_the_call() {
    let mut acd = Acd::new(Rules::default());
    acd.add_agent("alice", &["support"]);
    acd.add_agent("carol", &["sales"]);
    acd.set_ready("alice", 0);
    acd.set_ready("carol", 1);
    acd.enqueue(1, Some("sales"), 0, 10);
    assert_eq!(offers(&mut acd), [offer(1, "carol")]);
}

#[test]
fn higher_priority_first_then_arrival() {
    let mut acd = Acd::new(Rules::default());
    acd.add_agent("alice", &[]);
    acd.enqueue(1, None, 0, 0);
    acd.enqueue(2, None, 10, 1_000);
    acd.enqueue(3, None, 10, 2_000);
    assert_eq!(acd.queue(3_000), [2, 3, 1]);
    acd.set_ready("alice", 3_000);
    assert_eq!(offers(&mut acd), [offer(2, "alice")]);
}

#[test]
fn ageing_lifts_a_long_waiting_call() {
    // After 120 s waiting the priority is multiplied by 100 (SPEC 3.2).
    let rules = Rules {
        ageing: vec![(120_000, 100)],
        ..Rules::default()
    };
    let mut acd = Acd::new(rules);
    acd.add_agent("alice", &[]);
    acd.enqueue(1, None, 1, 0);
    acd.enqueue(2, None, 50, 100_000);
    assert_eq!(
        acd.queue(110_000),
        [2, 1],
        "before 120 s the newer, higher priority leads"
    );
    assert_eq!(
        acd.queue(121_000),
        [1, 2],
        "after 120 s the older call is x100"
    );
}

#[test]
fn rona_returns_the_call_to_its_place_and_idles_the_agent() {
    let rules = Rules {
        ring_ms: 20_000,
        ..Rules::default()
    };
    let mut acd = Acd::new(rules);
    acd.add_agent("alice", &[]);
    acd.add_agent("bob", &[]);
    acd.set_ready("alice", 0);
    acd.enqueue(1, None, 0, 1_000);
    assert_eq!(offers(&mut acd), [offer(1, "alice")]);
    acd.enqueue(2, None, 0, 2_000);
    assert_eq!(acd.poll_timeout(), Some(21_000));
    acd.handle_timeout(21_000);
    let actions: Vec<Action> = std::iter::from_fn(|| acd.poll_action()).collect();
    assert_eq!(
        actions,
        [Action::Withdraw {
            call: 1,
            agent: "alice".into()
        }]
    );
    assert_eq!(
        acd.state("alice"),
        Some(&State::Idle {
            reason: "RONA".into()
        })
    );
    // Call 1 kept its place ahead of call 2.
    assert_eq!(acd.queue(22_000), [1, 2]);
    acd.set_ready("bob", 22_000);
    assert_eq!(offers(&mut acd), [offer(1, "bob")]);
}

#[test]
fn no_call_during_wrap_up() {
    let rules = Rules {
        wrap_up_ms: 30_000,
        extra_wrap_up_ms: 10_000,
        ..Rules::default()
    };
    let mut acd = Acd::new(rules);
    acd.add_agent("alice", &[]);
    acd.set_ready("alice", 0);
    acd.enqueue(1, None, 0, 0);
    assert_eq!(offers(&mut acd), [offer(1, "alice")]);
    acd.answered(1);
    assert_eq!(acd.state("alice"), Some(&State::Busy { call: 1 }));
    acd.ended(1, 60_000);
    acd.enqueue(2, None, 0, 61_000);
    assert!(offers(&mut acd).is_empty(), "nothing while wrapping up");
    assert_eq!(acd.poll_timeout(), Some(100_000));
    acd.handle_timeout(100_000);
    assert_eq!(offers(&mut acd), [offer(2, "alice")]);
}

#[test]
fn a_caller_gone_while_ringing_frees_the_agent() {
    let mut acd = Acd::new(Rules::default());
    acd.add_agent("alice", &[]);
    acd.set_ready("alice", 0);
    acd.enqueue(1, None, 0, 0);
    assert_eq!(offers(&mut acd), [offer(1, "alice")]);
    acd.remove(1, 5_000);
    assert_eq!(acd.state("alice"), Some(&State::Available { since: 5_000 }));
    acd.enqueue(2, None, 0, 6_000);
    assert_eq!(offers(&mut acd), [offer(2, "alice")]);
}

#[derive(Clone, Debug)]
enum Step {
    Ready(usize),
    NotReady(usize),
    Enqueue(i64),
    Answer,
    End,
    Remove,
    Tick(u64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..4usize).prop_map(Step::Ready),
        (0..4usize).prop_map(Step::NotReady),
        (-5..5i64).prop_map(Step::Enqueue),
        Just(Step::Answer),
        Just(Step::End),
        Just(Step::Remove),
        (0..60_000u64).prop_map(Step::Tick),
    ]
}

proptest! {
    /// No call is ever offered to two agents at once, no agent holds two
    /// calls, and every call is either waiting, ringing one agent, talking
    /// to one agent, or gone.
    #[test]
    fn no_call_is_lost_or_offered_twice(steps in proptest::collection::vec(step(), 1..120)) {
        let names = ["a", "b", "c", "d"];
        let rules = Rules { ring_ms: 10_000, wrap_up_ms: 5_000, extra_wrap_up_ms: 0, ageing: vec![(30_000, 10)] };
        let mut acd = Acd::new(rules);
        for n in names {
            acd.add_agent(n, &[]);
        }
        let mut now = 0u64;
        let mut next = 1u64;
        let mut live: Vec<u64> = Vec::new();
        for s in steps {
            match s {
                Step::Ready(i) => acd.set_ready(names[i], now),
                Step::NotReady(i) => acd.set_not_ready(names[i], "break"),
                Step::Enqueue(p) => {
                    acd.enqueue(next, None, p, now);
                    live.push(next);
                    next += 1;
                }
                Step::Answer => {
                    for n in names {
                        if let Some(State::Ringing { call, .. }) = acd.state(n).cloned() {
                            acd.answered(call);
                            break;
                        }
                    }
                }
                Step::End => {
                    for n in names {
                        if let Some(State::Busy { call }) = acd.state(n).cloned() {
                            acd.ended(call, now);
                            live.retain(|c| *c != call);
                            break;
                        }
                    }
                }
                Step::Remove => {
                    if let Some(call) = live.first().copied() {
                        let talking = names.iter().any(|n| acd.state(n) == Some(&State::Busy { call }));
                        if !talking {
                            acd.remove(call, now);
                            live.retain(|c| *c != call);
                        }
                    }
                }
                Step::Tick(ms) => {
                    now += ms;
                    acd.handle_timeout(now);
                }
            }
            while acd.poll_action().is_some() {}
            // Invariants.
            let mut held: Vec<u64> = names
                .iter()
                .filter_map(|n| match acd.state(n) {
                    Some(State::Ringing { call, .. } | State::Busy { call }) => Some(*call),
                    _ => None,
                })
                .collect();
            let count = held.len();
            held.sort_unstable();
            held.dedup();
            prop_assert_eq!(held.len(), count, "a call held by two agents");
            let waiting = acd.queue(now);
            for call in &live {
                let places = usize::from(waiting.contains(call)) + usize::from(held.contains(call));
                prop_assert_eq!(places, 1, "call {} is lost or in two places", call);
            }
            // Nobody waits while a ready agent is free.
            let free = names.iter().any(|n| matches!(acd.state(n), Some(State::Available { .. })));
            prop_assert!(!free || waiting.is_empty(), "a call waits while an agent is free");
        }
    }
}
