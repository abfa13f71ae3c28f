//! Each ACD rule as a table of scripts: events in, the actions they must
//! cause out; then the states and queries, and a property test driving
//! random operations against a model of where every call is.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_acd::{
    Acd, Action, CallId, Millis, Place, Preferred, QueueRules, Refused, Request, Rules, State,
};
use proptest::prelude::*;
use std::collections::BTreeMap;

// ---- the script runner -----------------------------------------------------

/// One input of a script, with its time.
#[derive(Clone, Copy, Debug)]
enum Op {
    Ready(&'static str, Millis),
    Login(&'static str, Millis),
    NotReady(&'static str, Millis),
    Logout(&'static str, Millis),
    EndWrapUp(&'static str, Millis),
    Extra(&'static str, Millis),
    /// Call, queue, priority, now.
    Call(CallId, &'static str, i64, Millis),
    /// Call, queue, arrival, now.
    Since(CallId, &'static str, Millis, Millis),
    /// Call, queue, priority, preferred agent, until, now.
    Sticky(CallId, &'static str, i64, &'static str, Millis, Millis),
    Answer(CallId, Millis),
    End(CallId, Millis),
    Decline(CallId, Millis),
    Remove(CallId, Millis),
    Tick(Millis),
}

use Op::*;

struct Case {
    name: &'static str,
    rules: Rules,
    queues: Vec<QueueRules>,
    /// Name, queues, maximum load; every agent logs in at 0 (Idle).
    agents: &'static [(&'static str, &'static [&'static str], u32)],
    ops: Vec<Op>,
    expect: Vec<Action>,
}

fn case(name: &'static str) -> Case {
    Case {
        name,
        rules: Rules::default(),
        queues: vec![QueueRules::new("q")],
        agents: &[("alice", &["q"], 1), ("bob", &["q"], 1)],
        ops: Vec::new(),
        expect: Vec::new(),
    }
}

fn request(queue: &str, priority: i64) -> Request {
    Request {
        priority,
        ..Request::new(queue)
    }
}

fn acd_for(c: &Case) -> Acd {
    let mut acd = Acd::new(c.rules.clone());
    for q in &c.queues {
        acd.add_queue(q.clone());
    }
    for (name, queues, load) in c.agents {
        acd.add_agent(name, queues, *load);
        assert!(acd.login(name, 0));
    }
    acd
}

fn apply(acd: &mut Acd, op: Op) {
    let ok = match op {
        Ready(a, t) => acd.set_ready(a, t),
        Login(a, t) => acd.login(a, t),
        NotReady(a, t) => acd.set_not_ready(a, "break", t),
        Logout(a, t) => acd.logout(a, t),
        EndWrapUp(a, t) => acd.end_wrap_up(a, t),
        Extra(a, t) => acd.extra_wrap_up(a, t),
        Call(call, q, p, t) => acd.enqueue(call, request(q, p), t).is_ok(),
        Since(call, q, since, t) => acd.enqueue_since(call, request(q, 0), since, t).is_ok(),
        Sticky(call, q, p, agent, until, t) => {
            let preferred = Some(Preferred {
                agent: agent.into(),
                until,
            });
            let r = Request {
                preferred,
                ..request(q, p)
            };
            acd.enqueue(call, r, t).is_ok()
        }
        Answer(call, t) => acd.answered(call, t),
        End(call, t) => acd.ended(call, t),
        Decline(call, t) => acd.declined(call, t),
        Remove(call, t) => acd.remove(call, t),
        Tick(t) => {
            acd.handle_timeout(t);
            true
        }
    };
    assert!(ok, "{op:?} refused");
}

fn drain(acd: &mut Acd) -> Vec<Action> {
    std::iter::from_fn(|| acd.poll_action()).collect()
}

fn run(c: &Case) -> Vec<Action> {
    let mut acd = acd_for(c);
    let mut actions = Vec::new();
    for op in &c.ops {
        apply(&mut acd, *op);
        acd.audit()
            .unwrap_or_else(|e| panic!("{}: after {op:?}: {e}", c.name));
        actions.extend(drain(&mut acd));
    }
    actions
}

fn check(cases: Vec<Case>) {
    for c in cases {
        assert_eq!(run(&c), c.expect, "case: {}", c.name);
    }
}

fn offer(call: CallId, agent: &str) -> Action {
    Action::Offer {
        call,
        agent: agent.into(),
    }
}

fn withdraw(call: CallId, agent: &str) -> Action {
    Action::Withdraw {
        call,
        agent: agent.into(),
    }
}

fn overflowed(call: CallId, from: &str, to: &str) -> Action {
    Action::Overflowed {
        call,
        from: from.into(),
        to: to.into(),
    }
}

fn timed_out(call: CallId, queue: &str) -> Action {
    Action::TimedOut {
        call,
        queue: queue.into(),
    }
}

fn ageing(levels: &[(Millis, i64)]) -> Rules {
    Rules {
        ageing: levels.to_vec(),
        ..Rules::default()
    }
}

fn wrap_up(wrap_up_ms: Millis, extra_wrap_up_ms: Millis) -> Rules {
    Rules {
        wrap_up_ms,
        extra_wrap_up_ms,
        ..Rules::default()
    }
}

fn queue(name: &str, max_wait: Option<Millis>, overflow: Option<&str>) -> QueueRules {
    QueueRules {
        max_wait_ms: max_wait,
        overflow: overflow.map(str::to_string),
        ..QueueRules::new(name)
    }
}

// ---- rule 1: the longest-idle agent of the queue -----------------------------

#[test]
fn rule_1_the_longest_idle_agent_of_the_queue_gets_the_call() {
    check(vec![
        Case {
            ops: vec![
                Ready("bob", 0),
                Ready("alice", 5_000),
                Call(1, "q", 0, 10_000),
            ],
            expect: vec![offer(1, "bob")],
            ..case("longest idle first")
        },
        Case {
            ops: vec![Ready("bob", 0), Ready("alice", 0), Call(1, "q", 0, 10_000)],
            expect: vec![offer(1, "alice")],
            ..case("equally idle: the first name")
        },
        Case {
            queues: vec![QueueRules::new("support"), QueueRules::new("sales")],
            agents: &[("alice", &["support"], 1), ("carol", &["sales"], 1)],
            ops: vec![
                Ready("alice", 0),
                Ready("carol", 1),
                Call(1, "sales", 0, 10),
            ],
            expect: vec![offer(1, "carol")],
            ..case("only agents of the call's queue")
        },
        Case {
            ops: vec![
                Ready("alice", 0),
                NotReady("alice", 10),
                Logout("bob", 10),
                Call(1, "q", 0, 20),
                Ready("alice", 30),
            ],
            expect: vec![offer(1, "alice")],
            ..case("idle and logged-out agents wait for nothing")
        },
        Case {
            ops: vec![
                Ready("alice", 0),
                Ready("bob", 1_000),
                Call(1, "q", 0, 2_000),
                Answer(1, 2_500),
                End(1, 3_000),
                Call(2, "q", 0, 4_000),
            ],
            expect: vec![offer(1, "alice"), offer(2, "bob")],
            ..case("idle since the last call ended")
        },
        Case {
            ops: vec![
                Ready("alice", 0),
                Ready("bob", 1_000),
                Call(1, "q", 0, 2_000),
                Remove(1, 3_000),
                Call(2, "q", 0, 4_000),
            ],
            expect: vec![offer(1, "alice"), offer(2, "bob")],
            ..case("a caller gone while ringing: available since then")
        },
    ]);
}

// ---- rule 2: priority, arrival, id; ageing ------------------------------------

#[test]
fn rule_2_priority_then_arrival_then_id_with_ageing() {
    let serve_one_by_one = |calls: &[CallId], t: Millis| {
        calls
            .iter()
            .enumerate()
            .flat_map(|(i, call)| {
                let t = t + 10 * i as Millis;
                [Answer(*call, t), End(*call, t + 1)]
            })
            .collect::<Vec<_>>()
    };
    let mut ordered = vec![
        Call(3, "q", 0, 0),
        Call(1, "q", 0, 0),
        Call(2, "q", 10, 1_000),
        Call(4, "q", 10, 2_000),
        Ready("alice", 3_000),
    ];
    ordered.extend(serve_one_by_one(&[2, 4, 1, 3], 4_000));
    let lifted = |at: Millis, tick: bool| {
        let mut ops = vec![
            Ready("alice", 0),
            Call(9, "q", 0, 0),
            Answer(9, 0),
            Call(1, "q", 1, 0),
            Call(2, "q", 50, 100_000),
        ];
        if tick {
            ops.push(Tick(120_000));
        }
        ops.push(End(9, at));
        ops
    };
    check(vec![
        Case {
            agents: &[("alice", &["q"], 1)],
            ops: ordered,
            expect: vec![
                offer(2, "alice"),
                offer(4, "alice"),
                offer(1, "alice"),
                offer(3, "alice"),
            ],
            ..case("higher priority, then earlier arrival, then lower id")
        },
        Case {
            rules: ageing(&[(120_000, 100)]),
            agents: &[("alice", &["q"], 1)],
            ops: lifted(110_000, false),
            expect: vec![offer(9, "alice"), offer(2, "alice")],
            ..case("before its ageing level the newer higher priority leads")
        },
        Case {
            rules: ageing(&[(120_000, 100)]),
            agents: &[("alice", &["q"], 1)],
            ops: lifted(121_000, true),
            expect: vec![offer(9, "alice"), offer(1, "alice")],
            ..case("after 120 s the older call is x100 (timeout at the level change)")
        },
        Case {
            rules: ageing(&[(120_000, 100)]),
            agents: &[("alice", &["q"], 1)],
            ops: lifted(121_000, false),
            expect: vec![offer(9, "alice"), offer(1, "alice")],
            ..case("decisions use the current level even if the timeout comes late")
        },
        Case {
            rules: ageing(&[(60_000, 2), (120_000, 100), (30_000, 1)]),
            agents: &[("alice", &["q"], 1)],
            ops: vec![
                Call(1, "q", -990, 0),
                Call(2, "q", 0, 100_000),
                Ready("alice", 130_000),
            ],
            // (-990 + 1000) x 100 = 1000 = (0 + 1000) x 1: the earlier wins.
            expect: vec![offer(1, "alice")],
            ..case("a negative priority gains from ageing too (shifted)")
        },
        Case {
            rules: ageing(&[(120_000, 100)]),
            agents: &[("alice", &["q"], 1)],
            ops: vec![
                Call(1, "q", 0, 10_000),
                Since(2, "q", 0, 20_000),
                Ready("alice", 30_000),
            ],
            expect: vec![offer(2, "alice")],
            ..case("enqueue_since keeps an earlier arrival")
        },
    ]);
}

// ---- rule 3: an agent of several queues --------------------------------------

#[test]
fn rule_3_an_agent_of_several_queues_takes_the_best_across_them() {
    let both = || vec![QueueRules::new("sales"), QueueRules::new("support")];
    check(vec![
        Case {
            queues: both(),
            agents: &[("alice", &["sales", "support"], 1)],
            ops: vec![
                Call(1, "support", 0, 0),
                Call(2, "sales", 5, 1_000),
                Call(3, "support", 5, 500),
                Ready("alice", 2_000),
                Answer(3, 2_100),
                End(3, 2_200),
                Answer(2, 2_300),
                End(2, 2_400),
            ],
            expect: vec![offer(3, "alice"), offer(2, "alice"), offer(1, "alice")],
            ..case("priority then arrival across queues")
        },
        Case {
            rules: ageing(&[(60_000, 2)]),
            queues: both(),
            agents: &[("alice", &["sales", "support"], 1)],
            ops: vec![
                Call(1, "support", 0, 0),
                Call(2, "sales", 100, 100_000),
                Ready("alice", 110_000),
            ],
            expect: vec![offer(1, "alice")],
            ..case("ageing levels compared across queues")
        },
        Case {
            queues: both(),
            agents: &[("alice", &["sales", "support"], 1), ("bob", &["sales"], 1)],
            ops: vec![
                Ready("bob", 0),
                Ready("alice", 1_000),
                Call(1, "support", 0, 2_000),
                Call(2, "sales", 0, 3_000),
            ],
            expect: vec![offer(1, "alice"), offer(2, "bob")],
            ..case("each call to the longest idle of its own queue")
        },
    ]);
}

// ---- rule 4: maximum load --------------------------------------------------------

#[test]
fn rule_4_maximum_load() {
    check(vec![
        Case {
            agents: &[("alice", &["q"], 2)],
            ops: vec![
                Ready("alice", 0),
                Call(1, "q", 0, 1),
                Call(2, "q", 0, 2),
                Call(3, "q", 0, 3),
                Answer(1, 4),
                Answer(2, 5),
                End(1, 6),
            ],
            expect: vec![offer(1, "alice"), offer(2, "alice"), offer(3, "alice")],
            ..case("two calls at once, the third when one ends")
        },
        Case {
            rules: wrap_up(10_000, 0),
            agents: &[("alice", &["q"], 2)],
            ops: vec![
                Ready("alice", 0),
                Call(1, "q", 0, 1),
                Call(2, "q", 0, 2),
                Call(3, "q", 0, 3),
                Answer(1, 4),
                Answer(2, 5),
                End(1, 5_000),
                Tick(14_999),
                Tick(15_000),
            ],
            expect: vec![offer(1, "alice"), offer(2, "alice"), offer(3, "alice")],
            ..case("wrap-up after one call blocks offers though below the load")
        },
        Case {
            agents: &[("alice", &["q"], 2), ("bob", &["q"], 1)],
            ops: vec![
                Ready("alice", 0),
                Ready("bob", 1_000),
                Call(1, "q", 0, 2_000),
                Call(2, "q", 0, 3_000),
                Call(3, "q", 0, 4_000),
                Call(4, "q", 0, 5_000),
            ],
            expect: vec![offer(1, "alice"), offer(2, "bob"), offer(3, "alice")],
            ..case("an agent with room goes behind the longer idle")
        },
    ]);
}

// ---- rule 5: RONA ------------------------------------------------------------------

#[test]
fn rule_5_rona_keeps_the_place_and_idles_the_agent() {
    check(vec![
        Case {
            ops: vec![
                Ready("alice", 0),
                Call(1, "q", 0, 1_000),
                Call(2, "q", 0, 2_000),
                Tick(20_999),
                Tick(21_000),
                Ready("bob", 22_000),
            ],
            expect: vec![offer(1, "alice"), withdraw(1, "alice"), offer(1, "bob")],
            ..case("withdrawn at the ring time; back before the newer call")
        },
        Case {
            ops: vec![
                Ready("alice", 0),
                Ready("bob", 100),
                Call(1, "q", 0, 1_000),
                Tick(21_000),
            ],
            expect: vec![offer(1, "alice"), withdraw(1, "alice"), offer(1, "bob")],
            ..case("offered at once to the next free agent")
        },
        Case {
            ops: vec![
                Ready("alice", 0),
                Ready("bob", 100),
                Call(1, "q", 0, 1_000),
                Decline(1, 5_000),
            ],
            expect: vec![offer(1, "alice"), withdraw(1, "alice"), offer(1, "bob")],
            ..case("a declined offer is RONA now")
        },
        Case {
            queues: vec![QueueRules {
                ring_ms: 5_000,
                ..QueueRules::new("q")
            }],
            ops: vec![
                Ready("alice", 0),
                Call(1, "q", 0, 0),
                Tick(5_000),
                Ready("alice", 6_000),
            ],
            expect: vec![offer(1, "alice"), withdraw(1, "alice"), offer(1, "alice")],
            ..case("the queue's ring time; the agent ready again")
        },
        Case {
            agents: &[("alice", &["q"], 2), ("bob", &["q"], 1)],
            ops: vec![
                Ready("alice", 0),
                Call(1, "q", 0, 1_000),
                Call(2, "q", 0, 1_000),
                Tick(21_000),
                Ready("bob", 22_000),
            ],
            expect: vec![
                offer(1, "alice"),
                offer(2, "alice"),
                withdraw(1, "alice"),
                withdraw(2, "alice"),
                offer(1, "bob"),
            ],
            ..case("RONA withdraws every offer of the agent")
        },
    ]);
}

// ---- rule 6: wrap-up -----------------------------------------------------------------

#[test]
fn rule_6_no_offer_during_wrap_up() {
    let start = || {
        vec![
            Ready("alice", 0),
            Call(1, "q", 0, 0),
            Answer(1, 1_000),
            End(1, 60_000),
            Call(2, "q", 0, 61_000),
        ]
    };
    let with = |ops: &[Op]| {
        let mut all = start();
        all.extend_from_slice(ops);
        all
    };
    check(vec![
        Case {
            rules: wrap_up(30_000, 10_000),
            agents: &[("alice", &["q"], 1)],
            ops: with(&[Tick(89_999), Tick(90_000)]),
            expect: vec![offer(1, "alice"), offer(2, "alice")],
            ..case("wrap-up time, then available")
        },
        Case {
            rules: wrap_up(30_000, 10_000),
            agents: &[("alice", &["q"], 1)],
            ops: with(&[Extra("alice", 80_000), Tick(99_999), Tick(100_000)]),
            expect: vec![offer(1, "alice"), offer(2, "alice")],
            ..case("extra time asked for: wrap-up plus extra")
        },
        Case {
            rules: wrap_up(30_000, 10_000),
            agents: &[("alice", &["q"], 1)],
            ops: with(&[EndWrapUp("alice", 70_000)]),
            expect: vec![offer(1, "alice"), offer(2, "alice")],
            ..case("wrap-up submitted early")
        },
        Case {
            rules: wrap_up(30_000, 10_000),
            agents: &[("alice", &["q"], 1)],
            ops: with(&[NotReady("alice", 70_000), Tick(100_000)]),
            expect: vec![offer(1, "alice")],
            ..case("a break after wrap-up")
        },
        Case {
            agents: &[("alice", &["q"], 1)],
            ops: start(),
            expect: vec![offer(1, "alice"), offer(2, "alice")],
            ..case("no wrap-up time: available at once")
        },
    ]);
}

#[test]
fn extra_wrap_up_time_is_given_once_per_wrap_up_and_only_while_wrapping_up() {
    let mut acd = Acd::new(wrap_up(30_000, 10_000));
    acd.add_queue(QueueRules::new("q"));
    acd.add_agent("alice", &["q"], 1);
    assert!(acd.login("alice", 0));
    assert!(!acd.extra_wrap_up("alice", 0), "not wrapping up");
    assert!(acd.set_ready("alice", 0));
    acd.enqueue(1, Request::new("q"), 0).unwrap();
    assert!(acd.answered(1, 1_000));
    assert!(acd.ended(1, 60_000));
    assert!(acd.extra_wrap_up("alice", 61_000));
    assert!(!acd.extra_wrap_up("alice", 62_000), "once");
    assert_eq!(acd.state("alice"), Some(State::WrapUp { until: 100_000 }));
    // A call with its own rules (its campaign's): no wrap-up at all.
    acd.handle_timeout(100_000);
    let own = Request {
        wrap_up: Some((0, 0)),
        ..Request::new("q")
    };
    acd.enqueue(2, own, 100_000).unwrap();
    assert!(acd.answered(2, 100_000));
    assert!(acd.ended(2, 110_000));
    assert_eq!(
        acd.state("alice"),
        Some(State::Available { since: 110_000 })
    );
}

// ---- rule 7: preferred agent -----------------------------------------------------------

#[test]
fn rule_7_a_call_reserved_for_its_preferred_agent() {
    check(vec![
        Case {
            ops: vec![
                Ready("alice", 0),
                Sticky(1, "q", 0, "bob", 60_000, 1_000),
                Call(2, "q", 0, 2_000),
                Ready("bob", 10_000),
            ],
            expect: vec![offer(2, "alice"), offer(1, "bob")],
            ..case("only the preferred agent; other calls go on")
        },
        Case {
            ops: vec![
                Ready("alice", 0),
                Sticky(1, "q", 0, "bob", 60_000, 1_000),
                Tick(59_999),
                Tick(60_000),
            ],
            expect: vec![offer(1, "alice")],
            ..case("open to every agent at the end of the reservation")
        },
        Case {
            ops: vec![
                Ready("alice", 0),
                Logout("bob", 0),
                Sticky(1, "q", 0, "bob", 60_000, 1_000),
                Login("bob", 2_000),
                Ready("bob", 2_000),
                Sticky(2, "q", 0, "nobody", 60_000, 3_000),
            ],
            expect: vec![offer(1, "alice"), offer(2, "bob")],
            ..case("a logged-out or unknown preferred agent reserves nothing")
        },
        Case {
            agents: &[("bob", &["q"], 1)],
            ops: vec![
                Call(1, "q", 0, 0),
                Sticky(2, "q", 0, "bob", 60_000, 5_000),
                Sticky(3, "q", 5, "bob", 60_000, 6_000),
                Ready("bob", 10_000),
                Answer(3, 10_100),
                End(3, 10_200),
                Answer(1, 10_300),
                End(1, 10_400),
            ],
            expect: vec![offer(3, "bob"), offer(1, "bob"), offer(2, "bob")],
            ..case("the preferred agent takes calls in the normal order")
        },
        Case {
            ops: vec![
                Ready("alice", 0),
                Sticky(1, "q", 0, "bob", 60_000, 1_000),
                Logout("bob", 5_000),
            ],
            expect: vec![offer(1, "alice")],
            ..case("the preferred agent logging out releases the call")
        },
        Case {
            ops: vec![
                Ready("bob", 0),
                Sticky(1, "q", 0, "bob", 100_000, 1_000),
                Tick(21_000),
                Ready("alice", 25_000),
            ],
            expect: vec![offer(1, "bob"), withdraw(1, "bob"), offer(1, "alice")],
            ..case("RONA of the preferred agent releases the call")
        },
        Case {
            queues: vec![QueueRules::new("q"), QueueRules::new("other")],
            agents: &[("alice", &["q"], 1), ("dave", &["other"], 1)],
            ops: vec![
                Ready("alice", 0),
                Sticky(1, "q", 0, "dave", 60_000, 1_000),
                Ready("dave", 2_000),
            ],
            expect: vec![offer(1, "dave")],
            ..case("a preferred agent of another queue")
        },
    ]);
}

// ---- rule 8: maximum wait, overflow, maximum size --------------------------------------

#[test]
fn rule_8_maximum_wait_and_overflow() {
    let two = || {
        vec![
            queue("first", Some(30_000), Some("second")),
            queue("second", Some(60_000), None),
        ]
    };
    check(vec![
        Case {
            queues: two(),
            agents: &[("bob", &["second"], 1)],
            ops: vec![
                Call(1, "first", 0, 0),
                Tick(29_999),
                Tick(30_000),
                Tick(89_999),
                Tick(90_000),
            ],
            expect: vec![overflowed(1, "first", "second"), timed_out(1, "second")],
            ..case("overflow, then time out in the overflow queue")
        },
        Case {
            queues: two(),
            agents: &[("bob", &["second"], 1)],
            ops: vec![
                Call(1, "first", 0, 0),
                Call(2, "second", 0, 10_000),
                Tick(30_000),
                Ready("bob", 31_000),
            ],
            expect: vec![overflowed(1, "first", "second"), offer(1, "bob")],
            ..case("an overflowed call keeps its arrival")
        },
        Case {
            queues: two(),
            agents: &[("bob", &["second"], 1)],
            ops: vec![Ready("bob", 0), Call(1, "first", 0, 0), Tick(30_000)],
            expect: vec![overflowed(1, "first", "second"), offer(1, "bob")],
            ..case("an overflowed call is offered at once")
        },
        Case {
            queues: vec![queue("first", Some(30_000), Some("nowhere"))],
            agents: &[],
            ops: vec![
                Call(1, "first", 0, 0),
                Call(2, "first", 0, 10_000),
                Tick(40_000),
            ],
            expect: vec![timed_out(1, "first"), timed_out(2, "first")],
            ..case("overflow to an unknown queue: time out")
        },
        Case {
            queues: vec![queue("first", Some(10_000), None)],
            agents: &[("alice", &["first"], 1)],
            ops: vec![
                Ready("alice", 0),
                Call(1, "first", 0, 0),
                Tick(10_000),
                Tick(20_000),
            ],
            expect: vec![
                offer(1, "alice"),
                withdraw(1, "alice"),
                timed_out(1, "first"),
            ],
            ..case("not while ringing; checked again when it comes back")
        },
        Case {
            queues: two(),
            agents: &[("alice", &["first"], 1), ("bob", &["second"], 1)],
            ops: vec![
                Ready("alice", 0),
                Ready("bob", 0),
                Call(9, "second", 0, 0),
                Call(1, "first", 0, 0),
                Answer(9, 0),
                Decline(1, 35_000),
                Tick(40_000),
                End(9, 41_000),
            ],
            expect: vec![
                offer(9, "bob"),
                offer(1, "alice"),
                withdraw(1, "alice"),
                overflowed(1, "first", "second"),
                offer(1, "bob"),
            ],
            ..case("a declined call past its maximum wait overflows")
        },
    ]);
}

#[test]
fn rule_8_maximum_size_and_other_refusals() {
    let mut acd = Acd::new(Rules::default());
    acd.add_queue(QueueRules {
        max_size: Some(2),
        ..QueueRules::new("q")
    });
    acd.add_agent("alice", &["q", "later"], 1);
    acd.login("alice", 0);
    assert_eq!(
        acd.enqueue(1, Request::new("nope"), 0),
        Err(Refused::UnknownQueue)
    );
    assert_eq!(
        acd.enqueue(1, Request::new("later"), 0),
        Err(Refused::UnknownQueue),
        "named by an agent only"
    );
    assert_eq!(acd.enqueue(1, Request::new("q"), 0), Ok(()));
    assert_eq!(
        acd.enqueue(1, Request::new("q"), 0),
        Err(Refused::AlreadyQueued)
    );
    assert_eq!(acd.enqueue(2, Request::new("q"), 0), Ok(()));
    assert_eq!(acd.enqueue(3, Request::new("q"), 0), Err(Refused::Full));
    assert_eq!(acd.waiting(), 2);
    // A ringing call no longer counts as waiting.
    assert!(acd.set_ready("alice", 1));
    assert_eq!(acd.poll_action(), Some(offer(1, "alice")));
    assert_eq!(
        acd.enqueue(1, Request::new("q"), 2),
        Err(Refused::AlreadyQueued)
    );
    assert_eq!(acd.enqueue(3, Request::new("q"), 2), Ok(()));
    assert_eq!(Refused::Full.to_string(), "the queue is full");
    // A queue named by an agent first serves once added.
    acd.add_queue(QueueRules::new("later"));
    assert_eq!(acd.enqueue(4, Request::new("later"), 3), Ok(()));
    acd.audit().unwrap();
}

// ---- states and queries -------------------------------------------------------------------

#[test]
fn agent_states_and_transitions() {
    let mut acd = Acd::new(wrap_up(10_000, 0));
    acd.add_queue(QueueRules::new("q"));
    acd.add_agent("alice", &["q"], 1);
    assert_eq!(acd.state("alice"), Some(State::LoggedOut));
    assert_eq!(acd.state("nobody"), None);
    assert!(!acd.set_ready("alice", 0), "not from LoggedOut");
    assert!(!acd.logout("alice", 0));
    assert!(acd.login("alice", 0));
    assert!(!acd.login("alice", 0));
    let idle = |reason: &str| State::Idle {
        reason: reason.into(),
    };
    assert_eq!(acd.state("alice"), Some(idle("logged in")));
    assert!(!acd.end_wrap_up("alice", 0));
    assert!(acd.set_ready("alice", 1_000));
    assert!(!acd.set_ready("alice", 1_000));
    assert_eq!(acd.state("alice"), Some(State::Available { since: 1_000 }));
    acd.enqueue(1, Request::new("q"), 2_000).unwrap();
    assert_eq!(
        acd.state("alice"),
        Some(State::Ringing {
            call: 1,
            until: 22_000
        })
    );
    assert_eq!(
        acd.place(1),
        Some(Place::Ringing {
            agent: "alice",
            until: 22_000
        })
    );
    assert!(!acd.logout("alice", 2_000), "not while ringing");
    assert!(
        !acd.set_not_ready("alice", "break", 2_000),
        "not while ringing"
    );
    assert!(acd.answered(1, 3_000));
    assert!(!acd.answered(1, 3_000));
    assert_eq!(acd.state("alice"), Some(State::Busy { call: 1 }));
    assert_eq!(acd.place(1), Some(Place::Busy { agent: "alice" }));
    assert_eq!(acd.calls_of("alice"), [1]);
    assert!(!acd.set_ready("alice", 3_000), "not from Busy");
    assert!(!acd.set_not_ready("alice", "break", 3_000), "not from Busy");
    assert!(!acd.logout("alice", 3_000), "not while busy");
    assert!(!acd.remove(1, 3_000), "a conversation ends with ended");
    assert!(acd.ended(1, 4_000));
    assert_eq!(acd.place(1), None);
    assert_eq!(acd.state("alice"), Some(State::WrapUp { until: 14_000 }));
    assert!(!acd.set_ready("alice", 5_000), "not from WrapUp");
    assert!(acd.set_not_ready("alice", "break", 5_000));
    assert_eq!(acd.state("alice"), Some(idle("break")));
    assert_eq!(acd.poll_timeout(), None, "no wrap-up timer left");
    assert!(acd.set_ready("alice", 6_000));
    assert!(acd.set_not_ready("alice", "lunch", 7_000));
    assert!(acd.logout("alice", 8_000));
    assert_eq!(acd.state("alice"), Some(State::LoggedOut));
    let agents: Vec<(&str, State)> = acd.agents().collect();
    assert_eq!(agents, [("alice", State::LoggedOut)]);
    acd.audit().unwrap();
}

#[test]
fn a_multi_load_agent_reports_ringing_first_and_may_pause() {
    let mut acd = Acd::new(Rules::default());
    acd.add_queue(QueueRules::new("q"));
    acd.add_agent("alice", &["q"], 3);
    acd.login("alice", 0);
    acd.set_ready("alice", 0);
    acd.enqueue(1, Request::new("q"), 0).unwrap();
    acd.answered(1, 1);
    acd.enqueue(2, Request::new("q"), 2).unwrap();
    assert_eq!(
        acd.state("alice"),
        Some(State::Ringing {
            call: 2,
            until: 20_002
        })
    );
    acd.answered(2, 3);
    assert_eq!(acd.state("alice"), Some(State::Busy { call: 1 }));
    assert_eq!(acd.calls_of("alice"), [1, 2]);
    // Below the maximum load the agent may stop taking calls.
    assert!(acd.set_not_ready("alice", "break", 4));
    acd.enqueue(3, Request::new("q"), 5).unwrap();
    assert!(acd.ended(1, 6));
    assert_eq!(acd.state("alice"), Some(State::Busy { call: 2 }));
    assert!(acd.set_ready("alice", 7));
    let actions = drain(&mut acd);
    assert_eq!(actions.last(), Some(&offer(3, "alice")));
    acd.audit().unwrap();
}

#[test]
fn poll_timeout_names_the_next_deadline() {
    let mut acd = Acd::new(Rules {
        wrap_up_ms: 5_000,
        extra_wrap_up_ms: 0,
        ageing: vec![(50_000, 2)],
    });
    acd.add_queue(queue("q", Some(30_000), None));
    acd.add_agent("alice", &["q"], 1);
    acd.add_agent("bob", &["q"], 1);
    acd.login("alice", 0);
    acd.login("bob", 0);
    assert_eq!(acd.poll_timeout(), None);
    let sticky = Request {
        preferred: Some(Preferred {
            agent: "bob".into(),
            until: 20_000,
        }),
        ..Request::new("q")
    };
    acd.enqueue(1, sticky, 1_000).unwrap();
    assert_eq!(acd.poll_timeout(), Some(20_000), "reservation");
    acd.handle_timeout(20_000);
    assert_eq!(acd.poll_timeout(), Some(31_000), "maximum wait");
    acd.set_ready("alice", 25_000);
    assert_eq!(acd.poll_timeout(), Some(45_000), "ring time");
    acd.answered(1, 26_000);
    assert_eq!(acd.poll_timeout(), None);
    acd.ended(1, 27_000);
    assert_eq!(acd.poll_timeout(), Some(32_000), "wrap-up");
    acd.handle_timeout(32_000);
    assert_eq!(acd.state("alice"), Some(State::Available { since: 32_000 }));
    acd.set_not_ready("alice", "break", 32_000);
    acd.enqueue(2, Request::new("q"), 40_000).unwrap();
    acd.add_queue(QueueRules::new("q"));
    assert_eq!(
        acd.poll_timeout(),
        Some(90_000),
        "ageing level, no more max wait"
    );
    acd.audit().unwrap();
}

#[test]
fn queue_position_waiting_and_oldest_wait() {
    let mut acd = Acd::new(ageing(&[(100_000, 10)]));
    acd.add_queue(QueueRules::new("q"));
    acd.add_queue(QueueRules::new("r"));
    acd.enqueue(1, request("q", 0), 0).unwrap();
    acd.enqueue(2, request("q", 50), 50_000).unwrap();
    acd.enqueue(3, request("q", 50), 60_000).unwrap();
    acd.enqueue(4, request("r", 0), 70_000).unwrap();
    assert_eq!(acd.queue("q", 90_000), [2, 3, 1]);
    assert_eq!(acd.queue("q", 100_000), [1, 2, 3], "ageing at 100 s");
    assert_eq!(acd.queue("nope", 0), Vec::<CallId>::new());
    assert_eq!(acd.position(1, 90_000), Some(3));
    assert_eq!(acd.position(1, 100_000), Some(1));
    assert_eq!(acd.position(4, 100_000), Some(1));
    assert_eq!(acd.position(99, 100_000), None);
    assert_eq!(acd.place(4), Some(Place::Waiting { queue: "r" }));
    assert_eq!(acd.waiting(), 4);
    assert_eq!(acd.oldest_wait("q", 100_000), Some(100_000));
    assert_eq!(acd.oldest_wait("r", 100_000), Some(30_000));
    assert!(acd.remove(1, 100_000));
    assert!(!acd.remove(1, 100_000));
    assert_eq!(acd.oldest_wait("q", 100_000), Some(50_000));
    assert_eq!(acd.waiting(), 3);
    assert_eq!(acd.oldest_wait("nope", 0), None);
    acd.audit().unwrap();
}

#[test]
fn adding_an_agent_again_updates_queues_and_load() {
    let mut acd = Acd::new(Rules::default());
    acd.add_queue(QueueRules::new("q"));
    acd.add_queue(QueueRules::new("r"));
    acd.add_agent("alice", &["q"], 1);
    acd.login("alice", 0);
    acd.set_ready("alice", 0);
    acd.enqueue(1, Request::new("r"), 1_000).unwrap();
    acd.enqueue(2, Request::new("r"), 1_000).unwrap();
    assert_eq!(acd.poll_action(), None);
    acd.add_agent("alice", &["q", "r"], 2);
    assert_eq!(drain(&mut acd), [offer(1, "alice"), offer(2, "alice")]);
    assert_eq!(
        acd.state("alice"),
        Some(State::Ringing {
            call: 1,
            until: 21_000
        }),
        "offered at the latest time given"
    );
    acd.audit().unwrap();
}

// ---- property test ------------------------------------------------------------------------

const AGENTS: [(&str, &[&str], u32); 4] = [
    ("a", &["q0"], 1),
    ("b", &["q0", "q1"], 2),
    ("c", &["q1", "q2"], 1),
    ("d", &["q2"], 3),
];
const QUEUES: [&str; 3] = ["q0", "q1", "q2"];

#[derive(Clone, Debug)]
enum Step {
    Enqueue {
        queue: usize,
        priority: i64,
        sticky: Option<(usize, Millis)>,
        earlier: Millis,
    },
    Ready(usize),
    NotReady(usize),
    EndWrapUp(usize),
    Login(usize),
    Logout(usize),
    Answer(usize),
    End(usize),
    Decline(usize),
    Remove(usize),
    Tick(Millis),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize, -5..5i64, proptest::option::of((0..4usize, 1..90_000u64)), 0..30_000u64)
            .prop_map(|(queue, priority, sticky, earlier)| Step::Enqueue { queue, priority, sticky, earlier }),
        2 => (0..4usize).prop_map(Step::Ready),
        1 => (0..4usize).prop_map(Step::NotReady),
        1 => (0..4usize).prop_map(Step::EndWrapUp),
        1 => (0..4usize).prop_map(Step::Login),
        1 => (0..4usize).prop_map(Step::Logout),
        2 => any::<usize>().prop_map(Step::Answer),
        2 => any::<usize>().prop_map(Step::End),
        1 => any::<usize>().prop_map(Step::Decline),
        1 => any::<usize>().prop_map(Step::Remove),
        3 => (0..40_000u64).prop_map(Step::Tick),
    ]
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Where {
    Waiting,
    Ringing(String),
    Busy(String),
}

#[derive(Clone, Debug)]
struct Tracked {
    queue: String,
    place: Where,
    /// The agent the call was reserved for at arrival, and until when.
    reserved: Option<(String, Millis)>,
}

/// Where the test believes every call is, from the actions and results.
#[derive(Default)]
struct Model {
    calls: BTreeMap<CallId, Tracked>,
    enqueued: usize,
    served: usize,
    removed: usize,
    timed_out: usize,
}

impl Model {
    fn pick(&self, i: usize, test: impl Fn(&Where) -> bool) -> Option<CallId> {
        let found: Vec<CallId> = self
            .calls
            .iter()
            .filter(|(_, t)| test(&t.place))
            .map(|(c, _)| *c)
            .collect();
        (!found.is_empty()).then(|| found[i % found.len()])
    }

    fn held_by(&self, agent: &str) -> Vec<CallId> {
        self.calls
            .iter()
            .filter(|(_, t)| matches!(&t.place, Where::Ringing(a) | Where::Busy(a) if a == agent))
            .map(|(c, _)| *c)
            .collect()
    }

    fn observe(&mut self, acd: &mut Acd) -> Result<(), TestCaseError> {
        while let Some(action) = acd.poll_action() {
            match action {
                Action::Offer { call, agent } => {
                    let t = self.calls.get_mut(&call).unwrap();
                    prop_assert_eq!(&t.place, &Where::Waiting, "offered twice: {}", call);
                    t.place = Where::Ringing(agent);
                }
                Action::Withdraw { call, agent } => {
                    let t = self.calls.get_mut(&call).unwrap();
                    prop_assert_eq!(&t.place, &Where::Ringing(agent));
                    t.place = Where::Waiting;
                }
                Action::Overflowed { call, from, to } => {
                    let t = self.calls.get_mut(&call).unwrap();
                    prop_assert_eq!(&t.place, &Where::Waiting);
                    prop_assert_eq!(&t.queue, &from);
                    t.queue = to;
                }
                Action::TimedOut { call, queue } => {
                    let t = self.calls.remove(&call).unwrap();
                    prop_assert_eq!(t.place, Where::Waiting);
                    prop_assert_eq!(t.queue, queue);
                    self.timed_out += 1;
                }
            }
        }
        Ok(())
    }

    fn check(&self, acd: &Acd, now: Millis) -> Result<(), TestCaseError> {
        acd.audit().map_err(TestCaseError::fail)?;
        let mut waiting = 0;
        for (call, t) in &self.calls {
            let expected = match &t.place {
                Where::Waiting => {
                    waiting += 1;
                    Place::Waiting { queue: &t.queue }
                }
                Where::Ringing(agent) => match acd.place(*call) {
                    Some(Place::Ringing { agent: a, until }) if a == agent => {
                        Place::Ringing { agent: a, until }
                    }
                    other => return Err(TestCaseError::fail(format!("{call}: {other:?}"))),
                },
                Where::Busy(agent) => Place::Busy { agent },
            };
            prop_assert_eq!(acd.place(*call), Some(expected), "call {}", call);
        }
        prop_assert_eq!(
            acd.waiting(),
            waiting,
            "a call waiting and ringing, or lost"
        );
        for q in QUEUES {
            let mut listed = acd.queue(q, now);
            listed.sort_unstable();
            let expected: Vec<CallId> = self
                .calls
                .iter()
                .filter(|(_, t)| t.place == Where::Waiting && t.queue == q)
                .map(|(c, _)| *c)
                .collect();
            prop_assert_eq!(listed, expected);
        }
        for (name, queues, max_load) in AGENTS {
            let held = self.held_by(name);
            prop_assert!(held.len() <= max_load as usize, "{} above its load", name);
            prop_assert_eq!(acd.calls_of(name), held.clone());
            let state = acd.state(name).unwrap();
            let ringing = held
                .iter()
                .any(|c| matches!(self.calls[c].place, Where::Ringing(_)));
            if matches!(
                state,
                State::WrapUp { .. } | State::Idle { .. } | State::LoggedOut
            ) {
                prop_assert!(!ringing, "{} is {:?} with an offer", name, state);
            }
            if let State::Available { .. } = state {
                prop_assert!(held.is_empty());
                // Nothing waits that this free agent may take.
                for (call, t) in &self.calls {
                    let theirs = queues.contains(&t.queue.as_str())
                        && t.place == Where::Waiting
                        && match &t.reserved {
                            None => true,
                            Some((agent, until)) => agent == name || *until <= now,
                        };
                    prop_assert!(!theirs, "call {} waits while {} is free", call, name);
                }
            }
        }
        prop_assert_eq!(
            self.enqueued,
            self.calls.len() + self.served + self.removed + self.timed_out
        );
        Ok(())
    }
}

fn proptest_acd() -> Acd {
    let mut acd = Acd::new(Rules {
        wrap_up_ms: 5_000,
        extra_wrap_up_ms: 1_000,
        ageing: vec![(20_000, 2), (45_000, 5)],
    });
    acd.add_queue(QueueRules {
        ring_ms: 10_000,
        ..queue("q0", Some(60_000), Some("q1"))
    });
    acd.add_queue(QueueRules {
        ring_ms: 15_000,
        ..queue("q1", Some(120_000), None)
    });
    acd.add_queue(QueueRules {
        ring_ms: 10_000,
        max_size: Some(4),
        // An agent takes a q2 call only while holding no other.
        max_load: Some(1),
        ..QueueRules::new("q2")
    });
    for (name, queues, load) in AGENTS {
        acd.add_agent(name, queues, load);
    }
    acd
}

proptest! {
    /// No call is offered to two agents at once or is both waiting and
    /// ringing; no agent holds more than their maximum load or has an offer
    /// while idle, wrapping up or logged out; no call waits while an agent
    /// who may take it is free; and once agents are ready and answer, every
    /// call is served, removed or timed out: none is lost.
    #[test]
    fn no_call_is_lost_or_offered_twice(steps in proptest::collection::vec(step(), 1..150)) {
        let mut acd = proptest_acd();
        let mut model = Model::default();
        let mut now: Millis = 0;
        let mut next: CallId = 1;
        for s in steps {
            match s {
                Step::Enqueue { queue, priority, sticky, earlier } => {
                    let q = QUEUES[queue];
                    let preferred = sticky.map(|(a, d)| Preferred { agent: AGENTS[a].0.into(), until: now + d });
                    let reserved = preferred.as_ref()
                        .filter(|p| acd.state(&p.agent) != Some(State::LoggedOut))
                        .map(|p| (p.agent.clone(), p.until));
                    // Some calls age by their own (campaign's) levels, more
                    // than the ACD's.
                    let ageing = (priority % 3 == 0).then(|| vec![(5_000, 3), (20_000, 10), (40_000, 50)]);
                    let request = Request { queue: q.into(), priority, preferred, wrap_up: None, ageing };
                    let full = q == "q2" && acd.queue(q, now).len() >= 4;
                    let result = acd.enqueue_since(next, request, now.saturating_sub(earlier), now);
                    if full {
                        prop_assert_eq!(result, Err(Refused::Full));
                    } else {
                        prop_assert_eq!(result, Ok(()));
                        model.enqueued += 1;
                        model.calls.insert(next, Tracked { queue: q.into(), place: Where::Waiting, reserved });
                    }
                    next += 1;
                }
                Step::Ready(i) => {
                    let idle = matches!(acd.state(AGENTS[i].0), Some(State::Idle { .. }));
                    let ready = acd.set_ready(AGENTS[i].0, now);
                    if AGENTS[i].2 == 1 {
                        prop_assert_eq!(ready, idle);
                    }
                }
                Step::NotReady(i) => { acd.set_not_ready(AGENTS[i].0, "break", now); }
                Step::EndWrapUp(i) => { acd.end_wrap_up(AGENTS[i].0, now); }
                Step::Login(i) => {
                    let out = acd.state(AGENTS[i].0) == Some(State::LoggedOut);
                    prop_assert_eq!(acd.login(AGENTS[i].0, now), out);
                }
                Step::Logout(i) => {
                    let name = AGENTS[i].0;
                    let may = model.held_by(name).is_empty() && acd.state(name) != Some(State::LoggedOut);
                    prop_assert_eq!(acd.logout(name, now), may);
                }
                Step::Answer(i) => {
                    if let Some(call) = model.pick(i, |w| matches!(w, Where::Ringing(_))) {
                        prop_assert!(acd.answered(call, now));
                        let t = model.calls.get_mut(&call).unwrap();
                        let Where::Ringing(agent) = t.place.clone() else { unreachable!() };
                        t.place = Where::Busy(agent);
                    }
                }
                Step::End(i) => {
                    if let Some(call) = model.pick(i, |w| matches!(w, Where::Busy(_))) {
                        prop_assert!(acd.ended(call, now));
                        model.calls.remove(&call);
                        model.served += 1;
                    }
                }
                Step::Decline(i) => {
                    if let Some(call) = model.pick(i, |w| matches!(w, Where::Ringing(_))) {
                        prop_assert!(acd.declined(call, now));
                    }
                }
                Step::Remove(i) => {
                    if let Some(call) = model.pick(i, |w| !matches!(w, Where::Busy(_))) {
                        prop_assert!(acd.remove(call, now));
                        model.calls.remove(&call);
                        model.removed += 1;
                    }
                }
                Step::Tick(ms) => {
                    now += ms;
                    acd.handle_timeout(now);
                }
            }
            model.observe(&mut acd)?;
            model.check(&acd, now)?;
        }
        // Everyone logs in and works until no call is left.
        for (name, _, _) in AGENTS {
            acd.login(name, now);
        }
        for _ in 0..1_000 {
            if model.calls.is_empty() {
                break;
            }
            for (name, _, _) in AGENTS {
                acd.set_ready(name, now);
                acd.end_wrap_up(name, now);
            }
            model.observe(&mut acd)?;
            while let Some(call) = model.pick(0, |w| matches!(w, Where::Ringing(_))) {
                prop_assert!(acd.answered(call, now));
                let t = model.calls.get_mut(&call).unwrap();
                let Where::Ringing(agent) = t.place.clone() else { unreachable!() };
                t.place = Where::Busy(agent);
            }
            while let Some(call) = model.pick(0, |w| matches!(w, Where::Busy(_))) {
                prop_assert!(acd.ended(call, now));
                model.calls.remove(&call);
                model.served += 1;
            }
            model.observe(&mut acd)?;
            now += 7_000;
            acd.handle_timeout(now);
            model.observe(&mut acd)?;
            model.check(&acd, now)?;
        }
        prop_assert!(model.calls.is_empty(), "calls lost: {:?}", model.calls);
        prop_assert_eq!(acd.waiting(), 0);
        prop_assert_eq!(model.enqueued, model.served + model.removed + model.timed_out);
    }
}

/// An agent's time in state restarts when what they show changes (ready,
/// ringing, talking, wrap-up, not ready), and only then.
#[test]
fn time_in_state_restarts_with_each_change_of_state() {
    let mut acd = Acd::new(wrap_up(5_000, 0));
    acd.add_queue(QueueRules::new("q"));
    acd.add_agent("alice", &["q"], 1);
    assert!(acd.login("alice", 100));
    assert_eq!(acd.state_since("alice"), Some(100));
    assert!(acd.set_ready("alice", 1_000));
    assert_eq!(acd.state_since("alice"), Some(1_000));
    // Time passing changes nothing.
    acd.handle_timeout(2_000);
    assert_eq!(acd.state_since("alice"), Some(1_000));
    acd.enqueue(1, request("q", 0), 3_000).unwrap();
    assert!(matches!(acd.state("alice"), Some(State::Ringing { .. })));
    assert_eq!(acd.state_since("alice"), Some(3_000));
    assert!(acd.answered(1, 4_000));
    assert_eq!(acd.state_since("alice"), Some(4_000));
    assert!(acd.ended(1, 10_000));
    assert!(matches!(acd.state("alice"), Some(State::WrapUp { .. })));
    assert_eq!(acd.state_since("alice"), Some(10_000));
    // The wrap-up ends by itself: available from its end.
    acd.handle_timeout(15_000);
    assert!(matches!(acd.state("alice"), Some(State::Available { .. })));
    assert_eq!(acd.state_since("alice"), Some(15_000));
    assert!(acd.set_not_ready("alice", "break", 16_000));
    assert_eq!(acd.state_since("alice"), Some(16_000));
    assert_eq!(acd.state_since("nobody"), None);
}
