//! The switch in memory: real flows (compiled, encoded and loaded back as
//! an artifact), the store as a map, time passed in. Each test plays the
//! world's part by hand and checks what the switch decided; none touches a
//! socket or a clock, so they run in milliseconds.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use dialect_bot::Channel;
use dialect_engine::{Command, Event, Outcome};
use dialect_store::{NewTicket, RelationshipStore, StoreError, Ticket, TicketStore};
use dialect_switch::{Action, Switch, Version};
use jiff::{SignedDuration, Timestamp};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The flows of `dir` (relative to the repository), as artifacts.
fn version(dir: &str) -> Version {
    let root = root();
    let flows_dir = root.join(dir);
    let world = dialect_compiler::world::FsWorld::new(Some(root.join("stdlib")), &flows_dir);
    let compilation = dialect_compiler::compile(&world, std::slice::from_ref(&flows_dir));
    assert!(!compilation.has_errors());
    let artifacts: Vec<dialect_bytecode::Loaded> = compilation
        .programs
        .iter()
        .map(|p| dialect_bytecode::load(&dialect_bytecode::encode(p)).unwrap())
        .collect();
    let read = move |_: &dialect_bytecode::Program, file: &str| {
        let text = std::fs::read_to_string(flows_dir.join(file)).map_err(|e| e.to_string())?;
        dialect_bot::KnowledgeBase::parse(&text).map_err(|e| e.to_string())
    };
    Version::prepare(artifacts, &read, &BTreeMap::new()).unwrap()
}

/// The store as a map: last agents, owners, tickets; or one that fails.
#[derive(Default)]
struct Store {
    last: RefCell<BTreeMap<String, String>>,
    tickets: RefCell<Vec<Ticket>>,
    /// Customer records: (number, name).
    records: Vec<(String, String)>,
    failing: bool,
}

impl Store {
    fn fail<T>(&self) -> Result<T, StoreError> {
        Err(StoreError::Unavailable("the disk is full".into()))
    }
}

impl RelationshipStore for Store {
    fn set_last_agent(
        &self,
        _: &str,
        number: &str,
        agent: &str,
        _: Timestamp,
    ) -> Result<(), StoreError> {
        self.last
            .borrow_mut()
            .insert(number.to_string(), agent.to_string());
        Ok(())
    }

    fn last_agent(&self, _: &str, number: &str) -> Result<Option<(String, Timestamp)>, StoreError> {
        if self.failing {
            return self.fail();
        }
        Ok(self
            .last
            .borrow()
            .get(number)
            .map(|a| (a.clone(), Timestamp::UNIX_EPOCH)))
    }

    fn set_owner(&self, _: &str, _: &str, _: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn clear_owner(&self, _: &str, _: &str) -> Result<(), StoreError> {
        Ok(())
    }

    fn owner(&self, _: &str, _: &str) -> Result<Option<String>, StoreError> {
        if self.failing {
            return self.fail();
        }
        Ok(None)
    }
}

impl TicketStore for Store {
    fn open_ticket(&self, ticket: &NewTicket, now: Timestamp) -> Result<Ticket, StoreError> {
        if self.failing {
            return self.fail();
        }
        let mut tickets = self.tickets.borrow_mut();
        let opened = Ticket {
            id: tickets.len() as i64 + 1,
            channel: ticket.channel.clone(),
            campaign: ticket.campaign.clone(),
            customer: ticket.customer.clone(),
            reason: ticket.reason.clone(),
            transcript: ticket.transcript.clone(),
            team: ticket.team.clone(),
            owner: ticket.owner.clone(),
            status: "open".into(),
            created: now,
        };
        tickets.push(opened.clone());
        Ok(opened)
    }

    fn tickets(&self) -> Result<Vec<Ticket>, StoreError> {
        Ok(self.tickets.borrow().clone())
    }

    fn close_ticket(&self, id: i64) -> Result<Ticket, StoreError> {
        Err(StoreError::NotFound { id })
    }
}

impl dialect_store::CustomerStore for Store {
    fn import_records(
        &self,
        _: &str,
        _: &[dialect_store::NewRecord],
        _: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        Ok(Vec::new())
    }

    fn records_of(
        &self,
        campaign: &str,
        number: &str,
    ) -> Result<Vec<dialect_store::CustomerRecord>, StoreError> {
        if self.failing {
            return self.fail();
        }
        Ok(self
            .records
            .iter()
            .filter(|(n, _)| n == number)
            .enumerate()
            .map(|(id, (n, name))| dialect_store::CustomerRecord {
                id: id as i64 + 1,
                campaign: campaign.to_string(),
                numbers: vec![n.clone()],
                fields: BTreeMap::from([
                    ("name".to_string(), name.clone()),
                    ("customer_number".to_string(), format!("{}", id + 40)),
                ]),
                ..dialect_store::CustomerRecord::default()
            })
            .collect())
    }

    fn all_records(&self, _: &str) -> Result<Vec<dialect_store::CustomerRecord>, StoreError> {
        Ok(Vec::new())
    }

    fn record(&self, _: i64) -> Result<Option<dialect_store::CustomerRecord>, StoreError> {
        Ok(None)
    }

    fn edit_record(
        &self,
        id: i64,
        _: &BTreeMap<String, String>,
        _: u32,
        _: Timestamp,
    ) -> Result<dialect_store::CustomerRecord, StoreError> {
        Err(StoreError::NoRecord { id })
    }

    fn classify_record(
        &self,
        id: i64,
        _: &dialect_store::Classification,
        _: Timestamp,
    ) -> Result<dialect_store::CustomerRecord, StoreError> {
        Err(StoreError::NoRecord { id })
    }

    fn move_record(&self, id: i64, _: &str) -> Result<(), StoreError> {
        Err(StoreError::NoRecord { id })
    }

    fn blacklist(&self, _: &str, _: &str, _: Timestamp) -> Result<(), StoreError> {
        Ok(())
    }

    fn blacklisted(&self, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
}

/// The world around one switch: a clock moved by hand, the store.
struct World {
    switch: Switch,
    store: Store,
    start: Timestamp,
    now: Timestamp,
}

const ACD: &str = "tests/acd-flows";
const BOTS: &str = "tests/bot-scenarios";
/// A caller of the ACD flow's support queue.
const SUPPORT: &str = "+48221008888";

impl World {
    fn new(dir: &str) -> World {
        let start: Timestamp = "2026-11-23T09:00:00+01:00".parse().unwrap();
        World {
            switch: Switch::new(version(dir), start, None),
            store: Store::default(),
            start,
            now: start,
        }
    }

    fn at(&mut self, ms: i64) {
        self.now = self
            .start
            .checked_add(SignedDuration::from_millis(ms))
            .unwrap();
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.switch.poll_action()).collect()
    }

    fn on_duty(&mut self, agent: &str) {
        assert!(self.switch.login(agent, self.now));
        assert!(self.switch.set_ready(agent, self.now));
    }

    fn call(&mut self, key: u64, caller: &str) -> Vec<Action> {
        self.switch
            .arrive(key, caller, SUPPORT, Channel::Voice, self.now, &self.store)
            .unwrap();
        self.actions()
    }

    fn event(&mut self, key: u64, event: Event) -> Vec<Action> {
        self.switch.event(key, event, self.now, &self.store);
        self.actions()
    }

    /// Time passes to `ms`: the switch's deadlines due by then.
    fn wait(&mut self, ms: i64) -> Vec<Action> {
        self.at(ms);
        let mut out = Vec::new();
        while let Some(due) = self.switch.poll_timeout() {
            if due > self.now {
                break;
            }
            self.switch.handle_timeout(due, &self.store);
            out.extend(self.actions());
        }
        out
    }

    /// The world carries out a call's end: the switch forgets the call.
    fn released(&mut self, actions: &[Action], key: u64) -> bool {
        let ended = actions.iter().any(|a| {
            matches!(a, Action::Command { call, command: Command::Ended(_), .. } if *call == key)
        });
        if ended {
            self.switch.release(key, self.now);
        }
        ended
    }

    fn state(&self, agent: &str) -> Option<dialect_acd::State> {
        self.switch.acd().state(agent)
    }
}

fn rung(actions: &[Action]) -> Vec<(u64, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Ring { call, agent } => Some((*call, agent.clone())),
            _ => None,
        })
        .collect()
}

fn logged<'a>(actions: &'a [Action], name: &str) -> Vec<&'a dialect_switch::Fields> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log { event, fields, .. } if *event == name => Some(fields),
            _ => None,
        })
        .collect()
}

fn commands(actions: &[Action]) -> Vec<&Command> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Command { command, .. } => Some(command),
            _ => None,
        })
        .collect()
}

#[test]
fn a_queued_call_rings_the_longest_idle_agent_and_rona_moves_it_to_the_next() {
    let mut w = World::new(ACD);
    w.on_duty("dan");
    w.at(1_000);
    w.on_duty("ann");
    w.at(2_000);
    let actions = w.call(1, "+48600100001");
    assert!(
        commands(&actions)
            .iter()
            .any(|c| matches!(c, Command::Enqueue { .. })),
        "{actions:#?}"
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Waiting { call: 1, .. }))
    );
    assert_eq!(rung(&actions), [(1, "dan".to_string())]);
    // dan's ring time (5 s) passes: RONA, ann rings.
    let actions = w.wait(7_000);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::StopRinging { call: 1, agent } if agent == "dan")),
        "{actions:#?}"
    );
    assert_eq!(logged(&actions, "rona").len(), 1);
    assert_eq!(rung(&actions), [(1, "ann".to_string())]);
    assert!(matches!(
        w.state("dan"),
        Some(dialect_acd::State::Idle { .. })
    ));
}

#[test]
fn a_caller_who_hangs_up_while_an_agent_rings_frees_the_agent_and_everything_it_held() {
    // The CANCEL before the answer, as the switch sees it.
    let mut w = World::new(ACD);
    w.on_duty("ann");
    let actions = w.call(1, "+48600100001");
    assert_eq!(rung(&actions), [(1, "ann".to_string())]);
    assert_eq!(w.switch.timers(), 1, "the queue's max wait");
    let actions = w.event(1, Event::HangUp);
    let commands = commands(&actions);
    assert!(
        matches!(commands[0], Command::Dequeue { .. }),
        "{actions:#?}"
    );
    assert!(
        commands
            .iter()
            .any(|c| matches!(c, Command::Ended(Outcome::CallerHungUp)))
    );
    assert!(w.released(&actions, 1));
    assert!(matches!(
        w.state("ann"),
        Some(dialect_acd::State::Available { .. })
    ));
    assert_eq!(w.switch.calls(), 0);
    assert_eq!(w.switch.timers(), 0);
    assert_eq!(w.switch.acd().waiting(), 0);
    assert_eq!(w.switch.poll_timeout(), None);
}

#[test]
fn a_call_the_world_loses_before_the_answer_is_released_with_its_timers() {
    // No ACK for our 200 OK: the SIP adapter gives the call up; the flow
    // was playing its welcome with a timer running.
    let mut w = World::new(BOTS);
    w.switch
        .arrive(
            7,
            "+48600000000",
            "+48221009101",
            Channel::Voice,
            w.now,
            &w.store,
        )
        .unwrap();
    let actions = w.actions();
    assert!(
        commands(&actions)
            .iter()
            .any(|c| matches!(c, Command::Answer))
    );
    assert_eq!(w.switch.timers(), 0, "the bot's greeting plays first");
    let actions = w.event(7, Event::HangUp);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::StopListening { call: 7 }))
    );
    assert!(w.released(&actions, 7));
    assert_eq!(w.switch.calls(), 0);
    assert_eq!(w.switch.poll_timeout(), None);
    // Whatever the world still reports of the call changes nothing.
    assert!(w.event(7, Event::PromptFinished).is_empty());
}

#[test]
fn after_a_conversation_the_agent_wraps_up_before_the_next_call_is_offered() {
    let mut w = World::new(ACD);
    w.on_duty("ann");
    let first = w.call(1, "+48600100001");
    assert_eq!(rung(&first), [(1, "ann".to_string())]);
    let second = w.call(2, "+48600100002");
    assert!(
        rung(&second).is_empty(),
        "ann is ringing for the first call"
    );
    assert!(w.switch.agent_answered(1, w.now));
    w.event(
        1,
        Event::AgentConnected {
            agent: "ann".into(),
        },
    );
    w.at(60_000);
    // ann hangs up: the conversation is over, the flow goes on (and ends).
    assert!(w.switch.agent_ended(1, w.now));
    let actions = w.event(1, Event::BridgeEnded);
    assert!(rung(&actions).is_empty(), "ann wraps up (2 s)");
    assert!(matches!(
        w.state("ann"),
        Some(dialect_acd::State::WrapUp { .. })
    ));
    assert!(
        commands(&actions)
            .iter()
            .any(|c| matches!(c, Command::Hangup))
    );
    assert!(w.released(&actions, 1));
    let actions = w.wait(62_000);
    assert_eq!(rung(&actions), [(2, "ann".to_string())]);
}

#[test]
fn a_blind_transfer_puts_the_call_in_the_other_queue() {
    let mut w = World::new(ACD);
    w.on_duty("ben");
    w.on_duty("cid");
    let actions = w.call(1, "+48600100001");
    assert_eq!(rung(&actions), [(1, "ben".to_string())]);
    assert!(w.switch.agent_answered(1, w.now));
    w.event(
        1,
        Event::AgentConnected {
            agent: "ben".into(),
        },
    );
    // ben transfers the caller to escalation (REFER): his conversation is
    // over, the call waits again, and cid (escalation) rings.
    assert!(w.switch.agent_ended(1, w.now));
    let queue = w
        .switch
        .directory()
        .queue_named("escalation")
        .expect("the escalation queue");
    w.switch
        .requeue(1, "acd", "+48600100001", queue.clone(), 0, w.now, &w.store);
    let actions = w.actions();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Waiting { call: 1, queue: q } if *q == queue))
    );
    assert_eq!(rung(&actions), [(1, "cid".to_string())]);
    assert_eq!(w.switch.queue_of(1), Some(queue.as_str()));
}

#[test]
fn an_attended_transfer_to_a_colleague_rings_them_first() {
    let mut w = World::new(ACD);
    w.on_duty("dan");
    w.at(1_000);
    w.on_duty("ann");
    let queue = w.switch.directory().queue_named("support").unwrap();
    // A consultation call (no flow) for ann: reserved for her although
    // dan has waited longer.
    assert!(
        w.switch
            .enqueue_reserved(9, &queue, 0, "ann", 30_000, w.now)
    );
    assert_eq!(rung(&w.actions()), [(9, "ann".to_string())]);
}

#[test]
fn the_last_agent_leaving_a_conference_hands_the_caller_back_to_the_flow() {
    let mut w = World::new(ACD);
    w.on_duty("ann");
    w.call(1, "+48600100001");
    assert!(w.switch.agent_answered(1, w.now));
    w.event(
        1,
        Event::AgentConnected {
            agent: "ann".into(),
        },
    );
    // The colleague left earlier; now ann leaves too.
    assert!(w.switch.agent_ended(1, w.now));
    let actions = w.event(1, Event::BridgeEnded);
    assert!(
        commands(&actions)
            .iter()
            .any(|c| matches!(c, Command::Hangup)),
        "the flow goes on after its queue block: {actions:#?}"
    );
    assert!(w.released(&actions, 1));
    assert_eq!(w.switch.calls(), 0);
}

/// The ACD rules flow: support with a sticky agent for 2 min; it says
/// "Witamy." before queueing.
const RULES: &str = "tests/acd-scenarios";
const RULES_NUMBER: &str = "+48221007000";

impl World {
    /// A call to the ACD rules flow, queued once its welcome has played.
    fn queued(&mut self, key: u64, caller: &str) -> Vec<Action> {
        self.switch
            .arrive(
                key,
                caller,
                RULES_NUMBER,
                Channel::Voice,
                self.now,
                &self.store,
            )
            .unwrap();
        self.actions();
        self.event(key, Event::PromptFinished)
    }
}

#[test]
fn a_returning_caller_is_reserved_for_their_last_agent() {
    let mut w = World::new(RULES);
    w.store
        .set_last_agent("acd_rules", "+48600100001", "ben", w.now)
        .unwrap();
    w.on_duty("ann");
    w.at(1_000);
    w.on_duty("ben");
    let actions = w.queued(1, "+48600100001");
    let reserved = logged(&actions, "reserved");
    assert_eq!(reserved.len(), 1, "{actions:#?}");
    assert_eq!(reserved[0]["agent"], "ben");
    assert_eq!(reserved[0]["for_ms"], 120_000);
    assert_eq!(
        rung(&actions),
        [(1, "ben".to_string())],
        "not ann, idle longer"
    );
    // A caller nobody spoke with goes to the longest idle agent.
    let actions = w.queued(2, "+48600100002");
    assert!(logged(&actions, "reserved").is_empty());
    assert_eq!(rung(&actions), [(2, "ann".to_string())]);
}

#[test]
fn a_store_that_cannot_be_read_is_logged_and_the_call_queues_unreserved() {
    let mut w = World::new(RULES);
    w.store
        .set_last_agent("acd_rules", "+48600100001", "ben", w.now)
        .unwrap();
    w.store.failing = true;
    w.on_duty("ann");
    w.at(1_000);
    w.on_duty("ben");
    let actions = w.queued(1, "+48600100001");
    let failed = logged(&actions, "store_failed");
    assert_eq!(failed.len(), 1, "{actions:#?}");
    assert_eq!(failed[0]["reading"], "last agent");
    assert!(logged(&actions, "reserved").is_empty());
    assert_eq!(rung(&actions), [(1, "ann".to_string())]);
}

#[test]
fn a_handoff_is_routed_announced_and_queued() {
    let mut w = World::new(BOTS);
    w.on_duty("ben");
    w.switch
        .arrive(
            1,
            "+48600000000",
            "+48221009101",
            Channel::Voice,
            w.now,
            &w.store,
        )
        .unwrap();
    let actions = w.actions();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Listen { call: 1 }))
    );
    assert_eq!(logged(&actions, "bot_said").len(), 1, "the greeting");
    w.at(3_000);
    w.event(1, Event::PromptFinished);
    w.at(4_000);
    let actions = w.event(1, Event::Utterance("Zwrot pieniedzy, prosze".into()));
    let handoff = actions
        .iter()
        .find_map(|a| match a {
            Action::Handoff { decided, .. } => Some(decided.clone()),
            _ => None,
        })
        .expect("a handoff");
    assert!(
        handoff
            .assignment
            .team
            .as_deref()
            .is_some_and(|t| t.ends_with("front")),
        "{handoff:?}"
    );
    assert!(handoff.available, "ben of the front team is available");
    assert!(!handoff.ticket, "a live handoff with someone available");
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Announce { call: 1, .. }))
    );
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::StopListening { call: 1 }))
    );
    assert!(
        commands(&actions)
            .iter()
            .any(|c| matches!(c, Command::Enqueue { .. }))
    );
    assert_eq!(rung(&actions), [(1, "ben".to_string())]);
}

#[test]
fn a_ticket_the_store_cannot_write_is_logged_and_the_call_goes_on() {
    let mut w = World::new(BOTS);
    w.store.failing = true;
    w.switch
        .arrive(
            1,
            "+48600000000",
            "+48221009102",
            Channel::Voice,
            w.now,
            &w.store,
        )
        .unwrap();
    w.actions();
    w.at(3_000);
    w.event(1, Event::PromptFinished);
    let actions = w.event(1, Event::Utterance("refund".into()));
    let failed = logged(&actions, "ticket_failed");
    assert_eq!(failed.len(), 1, "{actions:#?}");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("disk is full")
    );
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, Action::TicketOpened { .. }))
    );
    // The handoff exit is taken all the same.
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::Decided {
            call: 1,
            event: Event::BotReply(dialect_engine::BotReply::Handoff)
        }
    )));
    // With a store that works, the same handoff opens a ticket.
    let mut w = World::new(BOTS);
    w.switch
        .arrive(
            1,
            "+48600000000",
            "+48221009102",
            Channel::Voice,
            w.now,
            &w.store,
        )
        .unwrap();
    w.actions();
    w.event(1, Event::PromptFinished);
    let actions = w.event(1, Event::Utterance("refund".into()));
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::TicketOpened { call: 1, .. }))
    );
    assert_eq!(w.store.tickets.borrow().len(), 1);
}

#[test]
fn an_external_bots_late_answer_is_dropped() {
    let mut w = World::new(BOTS);
    w.switch
        .arrive(
            1,
            "+48600000000",
            "+48221009104",
            Channel::Voice,
            w.now,
            &w.store,
        )
        .unwrap();
    let actions = w.actions();
    let (request, turn) = actions
        .iter()
        .find_map(|a| match a {
            Action::AskBot { request, .. } => Some((w.switch.bot_requests(1), request.turn)),
            _ => None,
        })
        .expect("the opening turn goes to the external bot");
    // The bot is too slow: the flow's timer gives up (cannot_answer).
    let actions = w.wait(60_000);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::TimerFired { call: 1 }))
    );
    let answer = dialect_bot::parse_response(200, r#"{"type": "say", "text": "Dzień dobry."}"#);
    w.switch
        .bot_answered(1, request, turn, answer, w.now, &w.store);
    let actions = w.actions();
    assert_eq!(
        logged(&actions, "bot_answer_dropped").len(),
        1,
        "{actions:#?}"
    );
    assert!(logged(&actions, "bot_said").is_empty());
}

#[test]
fn a_waiting_caller_hears_music_and_announcements_and_takes_a_courtesy_callback() {
    // Sales: announcements every 10 s, courtesy callback offered; nobody
    // on duty, so the caller waits.
    let mut w = World::new(ACD);
    let actions = w.call(1, "+48600555001");
    let music = actions.iter().find_map(|a| match a {
        Action::Music { call: 1, prompt } => Some(prompt.clone()),
        _ => None,
    });
    assert!(
        matches!(&music, Some(dialect_bytecode::Prompt::Play { path }) if path.ends_with("moh.wav")),
        "{actions:#?}"
    );
    // The music ends: it plays again; the engine hears of it too.
    w.at(5_000);
    let actions = w.event(1, Event::PromptFinished);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Music { call: 1, .. }))
    );
    let actions = w.wait(10_000);
    assert_eq!(
        actions
            .iter()
            .filter(|a| matches!(a, Action::Announcement { .. }))
            .collect::<Vec<_>>(),
        [&Action::Announcement {
            call: 1,
            position: 1,
            minutes: 2,
            courtesy: true
        }],
        "one caller ahead of nobody, two minutes by the default handling time"
    );
    // Every 10 s while waiting.
    assert!(w.switch.poll_timeout().is_some());
    // Key 1: the courtesy callback keeps the caller's place.
    w.at(12_000);
    let actions = w.event(1, Event::Digit('1'));
    let since = w.start;
    assert!(actions.iter().any(|a| matches!(
        a,
        Action::CourtesyCallback { call: 1, number, since: s, .. } if number == "+48600555001" && *s == since
    )), "{actions:#?}");
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::Farewell { call: 1 }))
    );
    assert!(
        commands(&actions).is_empty(),
        "the engine does not hear the key"
    );
    assert_eq!(w.switch.acd().waiting(), 0, "out of the queue");
    // Another key is the flow's again (it ignores keys while queued).
    assert!(
        !w.event(1, Event::Digit('1'))
            .iter()
            .any(|a| matches!(a, Action::CourtesyCallback { .. }))
    );
    // The goodbye ends: the caller is let go; the world hangs up.
    let actions = w.event(1, Event::PromptFinished);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::LetGo { call: 1, .. }))
    );
    let actions = w.event(1, Event::HangUp);
    assert!(w.released(&actions, 1));
    assert_eq!(w.switch.poll_timeout(), None, "no announcement left");
}

#[test]
fn the_estimated_wait_follows_the_queues_handling_time() {
    let mut w = World::new(ACD);
    w.on_duty("ann");
    // A first sales call talks with ann for 30 s.
    let actions = w.call(1, "+48600555001");
    assert_eq!(rung(&actions), [(1, "ann".to_string())]);
    assert!(w.switch.agent_answered(1, w.now));
    w.event(
        1,
        Event::AgentConnected {
            agent: "ann".into(),
        },
    );
    // Two more callers wait behind it.
    w.at(1_000);
    w.call(2, "+48600555002");
    w.call(3, "+48600555003");
    let heard = |actions: &[Action]| -> Vec<(usize, u64)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Announcement {
                    call: 3,
                    position,
                    minutes,
                    ..
                } => Some((*position, *minutes)),
                _ => None,
            })
            .collect()
    };
    // Every 10 s from 11 s: second in line, four minutes by the default
    // handling time (2 min) and one agent.
    let actions = w.wait(21_000);
    assert_eq!(heard(&actions), [(2, 4), (2, 4)], "{actions:#?}");
    // ann's call ends after 30 s: that is the queue's handling time now.
    w.at(30_000);
    assert!(w.switch.agent_ended(1, w.now));
    let actions = w.event(1, Event::BridgeEnded);
    assert!(w.released(&actions, 1));
    let actions = w.wait(31_000);
    assert_eq!(heard(&actions), [(2, 1)], "{actions:#?}");
    // ann, wrapped up (2 s), takes caller 2: caller 3 is next.
    let actions = w.wait(32_000);
    assert_eq!(rung(&actions), [(2, "ann".to_string())]);
    assert!(w.switch.agent_answered(2, w.now));
    let actions = w.wait(41_000);
    assert_eq!(heard(&actions), [(1, 1)], "{actions:#?}");
}

#[test]
fn calls_over_the_limit_are_refused_until_one_is_released() {
    let mut w = World::new(ACD);
    w.switch.set_max_calls(2);
    assert_eq!(w.switch.admit(1, "acd", "+48600100001"), Ok(()));
    w.call(1, "+48600100001");
    assert_eq!(w.switch.admit(2, "acd", "+48600100002"), Ok(()));
    // Admitted before its flow starts (it rings for a while): it counts.
    assert!(!w.switch.can_admit());
    assert_eq!(
        w.switch.admit(3, "acd", "+48600100003"),
        Err(dialect_switch::OverLimit),
        "the adapter answers 503"
    );
    assert_eq!(w.switch.calls(), 2);
    // The first caller hangs up: there is room again.
    let actions = w.event(1, Event::HangUp);
    assert!(w.released(&actions, 1));
    assert!(w.switch.can_admit());
    assert_eq!(w.switch.admit(3, "acd", "+48600100003"), Ok(()));
    // A call given up before its flow started is released all the same.
    w.switch.release(2, w.now);
    assert_eq!(w.switch.calls(), 1);
}

#[test]
fn a_chat_converses_with_the_same_customer_agent_and_hands_off_to_the_world() {
    let mut w = World::new(BOTS);
    assert!(
        !w.switch
            .chat_open(50, "nobody", "chat-1".into(), "visitor", w.now)
    );
    assert!(
        w.switch
            .chat_open(51, "helper", "chat-2".into(), "visitor", w.now)
    );
    let actions = w.actions();
    assert!(
        actions.iter().any(
            |a| matches!(a, Action::ChatMessage { chat: 51, text } if text.contains("Dzień dobry"))
        ),
        "the greeting: {actions:#?}"
    );
    assert!(commands(&actions).is_empty(), "a chat has no flow");
    w.switch.chat_said(51, "jak zapłacić fakturę", w.now);
    let actions = w.actions();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::ChatMessage { chat: 51, .. }))
    );
    assert_eq!(logged(&actions, "bot_said").len(), 1);
    w.switch.chat_said(51, "Zwrot pieniedzy, prosze", w.now);
    let actions = w.actions();
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, Action::ChatHandoff { chat: 51, code, .. } if code == "phrase")),
        "{actions:#?}"
    );
    assert!(
        w.switch
            .conversation(51)
            .is_some_and(|c| c.transcript().len() >= 4)
    );
    w.switch.release(51, w.now);
    assert_eq!(w.switch.calls(), 0);
}

#[test]
fn dialled_numbers_and_transfer_targets_are_read_as_the_flows_declare_them() {
    let w = World::new(ACD);
    // E.164 with or without `+` or `00`, or national.
    for user in ["+48221008888", "48221008888", "0048221008888", "221008888"] {
        assert_eq!(w.switch.route(user), Some(SUPPORT), "{user}");
    }
    assert_eq!(w.switch.route("999"), None);
    use dialect_switch::Target;
    let queue = w.switch.directory().queue_named("escalation").unwrap();
    assert_eq!(
        w.switch.transfer_target("escalation"),
        Some(Target::Queue(queue))
    );
    assert_eq!(
        w.switch.transfer_target("cid"),
        Some(Target::Agent("cid".into()))
    );
    assert_eq!(
        w.switch.transfer_target("221008888"),
        Some(Target::EntryPoint(SUPPORT.into())),
        "a campaign's own number starts its flow"
    );
    assert_eq!(
        w.switch.transfer_target("+48 600 100 200"),
        Some(Target::Number("+48600100200".into()))
    );
    assert_eq!(
        w.switch.transfer_target("12"),
        None,
        "too short for a number"
    );
    assert_eq!(w.switch.transfer_target("nobody"), None);
    assert_eq!(w.switch.transfer_target(""), None);
}

/// Issue 16: a reload replaces the whole set. A campaign the new version
/// leaves out takes no new call while its call in progress goes on; the
/// queue's new ring time and the agents' new skills count from the next
/// call.
#[test]
fn a_reload_replaces_campaigns_ring_times_and_skills_for_the_next_call() {
    const MAIN: &str = "+48221006000";
    const EXTRA: &str = "+48221006001";
    let mut w = World::new("tests/reload-exact/v1");
    w.on_duty("ann");
    w.on_duty("bob");
    // A call to the extra line, waiting in its menu.
    w.switch
        .arrive(1, "+48600100001", EXTRA, Channel::Voice, w.now, &w.store)
        .unwrap();
    let actions = w.actions();
    assert!(
        commands(&actions)
            .iter()
            .any(|c| matches!(c, Command::Play { .. })),
        "{actions:#?}"
    );
    // Version 1: the desk rings ann (billing), for 5 s.
    w.at(1_000);
    w.switch
        .arrive(2, "+48600100002", MAIN, Channel::Voice, w.now, &w.store)
        .unwrap();
    assert_eq!(rung(&w.actions()), [(2, "ann".to_string())]);
    let actions = w.wait(6_000);
    assert_eq!(logged(&actions, "rona").len(), 1, "{actions:#?}");
    let actions = w.event(2, Event::HangUp);
    assert!(w.released(&actions, 2));

    w.at(10_000);
    w.switch.install(version("tests/reload-exact/v2"));
    // The extra line is gone for new calls...
    assert_eq!(w.switch.route(EXTRA), None);
    assert!(
        w.switch
            .arrive(3, "+48600100003", EXTRA, Channel::Voice, w.now, &w.store)
            .is_err()
    );
    // ...while its call in progress finishes on version 1.
    let actions = w.event(1, Event::Digit('1'));
    assert!(
        actions.iter().any(|a| matches!(
            a,
            Action::Command { call: 1, command: Command::Ended(Outcome::HungUp { reason }), .. }
                if reason.as_deref() == Some("extra")
        )),
        "{actions:#?}"
    );
    assert!(w.released(&actions, 1));
    // The next call to the desk rings bob (billing is his now), for 8 s.
    let _ = w.wait(20_000);
    let _ = w.switch.set_ready("ann", w.now);
    w.switch
        .arrive(4, "+48600100004", MAIN, Channel::Voice, w.now, &w.store)
        .unwrap();
    assert_eq!(rung(&w.actions()), [(4, "bob".to_string())]);
    assert!(logged(&w.wait(27_900), "rona").is_empty());
    assert_eq!(logged(&w.wait(28_000), "rona").len(), 1);
}

/// Issue 17: `route_identified` is decided by the switch from the store's
/// customer records (the same code under serve and test): none, one (its
/// fields go to the flow), many; a store that cannot be read is logged and
/// counts as none.
#[test]
fn identification_reads_the_records_and_a_store_failure_is_logged_as_none() {
    let mut w = World::new("tests/identify-flows");
    w.store.records = vec![
        ("+48600100001".into(), "Jan".into()),
        ("+48600100002".into(), "Anna".into()),
        ("+48600100002".into(), "Firma".into()),
    ];
    let reason = |actions: &[Action]| {
        actions.iter().find_map(|a| match a {
            Action::Command {
                command: Command::Ended(Outcome::HungUp { reason }),
                ..
            } => reason.clone(),
            _ => None,
        })
    };
    let identify = |w: &mut World, key: u64, caller: &str| {
        w.switch
            .arrive(key, caller, "+48221009000", Channel::Voice, w.now, &w.store)
            .unwrap();
        let actions = w.actions();
        let identified = logged(&actions, "identified");
        assert_eq!(identified.len(), 1, "{actions:#?}");
        (identified[0]["records"].as_u64(), reason(&actions), actions)
    };
    let (n, exit, actions) = identify(&mut w, 1, "+48600100001");
    assert_eq!((n, exit.as_deref()), (Some(1), Some("one: Jan")));
    assert_eq!(logged(&actions, "identified")[0]["record"], 1);
    let (n, exit, _) = identify(&mut w, 2, "+48600100002");
    assert_eq!((n, exit.as_deref()), (Some(2), Some("many")));
    let (n, exit, _) = identify(&mut w, 3, "+48600100003");
    assert_eq!((n, exit.as_deref()), (Some(0), Some("none")));
    w.store.failing = true;
    let (n, exit, actions) = identify(&mut w, 4, "+48600100001");
    assert_eq!((n, exit.as_deref()), (Some(0), Some("none")));
    let failed = logged(&actions, "store_failed");
    assert_eq!(failed.len(), 1, "{actions:#?}");
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("disk is full")
    );
}

/// Issue 17: `authorise` from an internal source: what the caller keys must
/// be a value of a record of their number (the customer number here).
#[test]
fn internal_authorisation_matches_what_the_caller_keys_against_their_records() {
    let mut w = World::new("tests/identify-flows");
    w.store.records = vec![("+48600100001".into(), "Jan".into())];
    let keyed = |w: &mut World, key: u64, caller: &str, keys: &str| {
        w.switch
            .arrive(key, caller, "+48221009001", Channel::Voice, w.now, &w.store)
            .unwrap();
        let _ = w.actions();
        let _ = w.event(key, Event::PromptFinished);
        let mut actions = Vec::new();
        for k in keys.chars() {
            actions = w.event(key, Event::Digit(k));
        }
        let ok = logged(&actions, "authorised")
            .first()
            .and_then(|f| f["ok"].as_bool());
        let reason = actions.iter().find_map(|a| match a {
            Action::Command {
                command: Command::Ended(Outcome::HungUp { reason }),
                ..
            } => reason.clone(),
            _ => None,
        });
        (ok, reason)
    };
    // Jan's customer number is 40 (the test store numbers them from 40).
    assert_eq!(
        keyed(&mut w, 1, "+48600100001", "40#"),
        (Some(true), Some("ok".to_string()))
    );
    assert_eq!(
        keyed(&mut w, 2, "+48600100001", "42#"),
        (Some(false), Some("failed".to_string()))
    );
    // Another caller's number has no record: nothing they key matches.
    assert_eq!(
        keyed(&mut w, 3, "+48600100009", "40#"),
        (Some(false), Some("failed".to_string()))
    );
}

/// Issue 17: a wrap-up's classifier acts on the record in the store:
/// `move_to` moves it, unless the target campaign excludes records from
/// this one (`exclude_records_from`); `blacklist` and `email` are logged;
/// a classifier not offered for the contact result is refused.
#[test]
fn classifiers_move_records_unless_the_target_excludes_them() {
    use dialect_store::{CustomerStore, SqliteStore};
    use dialect_switch::wrapup::{Recall, Refused, WrapUp};
    let mut switch = Switch::new(version("tests/identify-flows"), Timestamp::UNIX_EPOCH, None);
    let store = SqliteStore::in_memory().unwrap();
    let at: Timestamp = "2026-11-23T10:00:00Z".parse().unwrap();
    let record = dialect_store::NewRecord {
        numbers: vec!["+48600100001".into()],
        fields: BTreeMap::from([("name".to_string(), "Jan".to_string())]),
    };
    let id = store.import_records("front_desk", &[record], at).unwrap()[0];
    let wrap = |classifier| WrapUp {
        campaign: "front_desk",
        number: "+48600100001",
        record: Some(id),
        result: "answered",
        agent: "ann",
        classifier,
        queue: Some("front"),
    };
    let drain = |switch: &mut Switch| {
        let mut actions = Vec::new();
        while let Some(action) = switch.poll_action() {
            actions.push(action);
        }
        actions
    };
    // The archive takes no records from the front desk.
    let decision = switch.wrap_up(1, &wrap("archive"), at, &store).unwrap();
    assert_eq!(decision.moved_to, None);
    let actions = drain(&mut switch);
    assert_eq!(
        logged(&actions, "record_move_refused").len(),
        1,
        "{actions:#?}"
    );
    let kept = store.record(id).unwrap().unwrap();
    assert_eq!(kept.campaign, "front_desk");
    assert!(kept.closed);
    assert_eq!(kept.classifier.as_deref(), Some("archive"));
    // Complaints take it, and an e-mail is asked for.
    let decision = switch.wrap_up(1, &wrap("complaint"), at, &store).unwrap();
    assert_eq!(decision.moved_to.as_deref(), Some("complaints_desk"));
    assert_eq!(decision.recall, Recall::None);
    let actions = drain(&mut switch);
    assert_eq!(logged(&actions, "record_moved").len(), 1, "{actions:#?}");
    let note = logged(&actions, "notification");
    assert_eq!(note.len(), 1, "{actions:#?}");
    assert_eq!(note[0]["to"], "complaints@example.com");
    assert_eq!(
        store.record(id).unwrap().unwrap().campaign,
        "complaints_desk"
    );
    // A classifier offered only for mail contacts.
    assert!(matches!(
        switch.wrap_up(1, &wrap("by_mail"), at, &store),
        Err(Refused::NotOffered(_))
    ));
    // do_not_call blacklists the number.
    assert!(!store.blacklisted("+48600100001").unwrap());
    let decision = switch.wrap_up(1, &wrap("do_not_call"), at, &store).unwrap();
    assert!(decision.blacklisted);
    assert!(store.blacklisted("+48600100001").unwrap());
    // call_back: two hours later, inside the weekday window.
    let decision = switch.wrap_up(1, &wrap("call_back"), at, &store).unwrap();
    assert_eq!(
        decision.recall,
        Recall::At {
            start: "2026-11-23T12:00:00Z".parse().unwrap(),
            end: Some("2026-11-30T10:00:00Z".parse().unwrap()),
        }
    );
}

/// Issue 17: `callback_unconnected`: `always` registers a callback for a
/// caller who waited and was never connected; `never` refuses the
/// `callback` block's.
#[test]
fn callback_unconnected_always_calls_back_and_never_refuses_the_block() {
    let mut w = World::new("tests/identify-flows");
    let callbacks = |actions: &[Action]| -> Vec<(Option<String>, Option<String>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Command {
                    command: Command::RegisterCallback { queue, reason, .. },
                    ..
                } => Some((queue.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    };
    w.switch
        .arrive(
            1,
            "+48600100001",
            "+48221009005",
            Channel::Voice,
            w.now,
            &w.store,
        )
        .unwrap();
    let actions = w.actions();
    assert!(callbacks(&actions).is_empty(), "{actions:#?}");
    let actions = w.event(1, Event::HangUp);
    assert_eq!(
        callbacks(&actions),
        [(
            Some("front".to_string()),
            Some("never connected".to_string())
        )],
        "{actions:#?}"
    );
    w.switch
        .arrive(
            2,
            "+48600100002",
            "+48221009006",
            Channel::Voice,
            w.now,
            &w.store,
        )
        .unwrap();
    let actions = w.actions();
    assert!(callbacks(&actions).is_empty(), "{actions:#?}");
    assert_eq!(
        logged(&actions, "callback_refused").len(),
        1,
        "{actions:#?}"
    );
}

/// Issue 17: `max_unhandled_per_agent` 2 and `unblock_at` 1 on the front
/// desk: ann, owing two wrap-ups, is offered no third call and cannot make
/// herself ready; wrapping one up lifts the block and the waiting call
/// rings her.
#[test]
fn an_agent_owing_too_many_wrap_ups_gets_no_calls_until_the_block_lifts() {
    use dialect_switch::wrapup::WrapUp;
    let mut w = World::new("tests/identify-flows");
    w.store.records = vec![
        ("+48600100001".into(), "Jan".into()),
        ("+48600100002".into(), "Ewa".into()),
        ("+48600100003".into(), "Ola".into()),
    ];
    w.on_duty("ann");
    let desk = "+48221009002";
    for (key, caller) in [(1, "+48600100001"), (2, "+48600100002")] {
        w.switch
            .arrive(key, caller, desk, Channel::Voice, w.now, &w.store)
            .unwrap();
        assert_eq!(rung(&w.actions()), [(key, "ann".to_string())]);
        assert!(w.switch.agent_answered(key, w.now));
        let _ = w.event(
            key,
            Event::AgentConnected {
                agent: "ann".into(),
            },
        );
        assert!(w.switch.agent_ended(key, w.now));
        let actions = w.event(key, Event::BridgeEnded);
        let blocked = logged(&actions, "agent_blocked");
        assert_eq!(blocked.len(), usize::from(key == 2), "{actions:#?}");
    }
    assert_eq!(w.switch.owed_by("ann"), [1, 2]);
    w.switch
        .arrive(3, "+48600100003", desk, Channel::Voice, w.now, &w.store)
        .unwrap();
    assert!(rung(&w.actions()).is_empty(), "ann is blocked");
    assert!(!w.switch.set_ready("ann", w.now));
    let why = w.switch.blocked("ann").unwrap();
    assert!(why.contains("owes 2 wrap-ups"), "{why}");
    let wrap = WrapUp {
        campaign: "front_desk",
        number: "+48600100001",
        record: None,
        result: "answered",
        agent: "ann",
        classifier: "call_back",
        queue: Some("front"),
    };
    w.switch.wrap_up(1, &wrap, w.now, &w.store).unwrap();
    let actions = w.actions();
    assert_eq!(logged(&actions, "agent_unblocked").len(), 1, "{actions:#?}");
    assert_eq!(rung(&actions), [(3, "ann".to_string())]);
    assert_eq!(w.switch.blocked("ann"), None);
    assert_eq!(w.switch.owed_by("ann"), [2]);
}

/// Issue 18: wrap-up is the campaign's: 30 s after a sales call (15 s more
/// when the agent asks, once), none after a service call through the same
/// queue; a reload that shortens sales' wrap-up counts from the next call.
#[test]
fn wrap_up_follows_the_calls_campaign_and_a_reload_changes_it_for_the_next_call() {
    use dialect_acd::State;
    let mut w = World::new("tests/wrapup-flows/v1");
    w.on_duty("ann");
    let talk = |w: &mut World, key: u64, dialled: &str| {
        w.switch
            .arrive(
                key,
                "+48600100001",
                dialled,
                Channel::Voice,
                w.now,
                &w.store,
            )
            .unwrap();
        assert_eq!(rung(&w.actions()), [(key, "ann".to_string())]);
        assert!(w.switch.agent_answered(key, w.now));
        assert!(w.switch.agent_ended(key, w.now));
        let _ = w.event(key, Event::BridgeEnded);
    };
    let wrap_left = |w: &World| match w.switch.acd().state("ann") {
        Some(State::WrapUp { until }) => Some(until - w.switch.acd_ms(w.now)),
        _ => None,
    };
    talk(&mut w, 1, "+48221007000");
    assert_eq!(wrap_left(&w), Some(30_000));
    assert!(w.switch.extra_wrap_up("ann", w.now));
    assert!(!w.switch.extra_wrap_up("ann", w.now), "once per wrap-up");
    assert_eq!(wrap_left(&w), Some(45_000));
    let _ = w.wait(45_000);
    assert!(matches!(
        w.switch.acd().state("ann"),
        Some(State::Available { .. })
    ));
    talk(&mut w, 2, "+48221007001");
    assert_eq!(wrap_left(&w), None, "service has no wrap-up");
    assert!(!w.switch.extra_wrap_up("ann", w.now));
    w.switch.install(version("tests/wrapup-flows/v2"));
    talk(&mut w, 3, "+48221007000");
    assert_eq!(wrap_left(&w), Some(10_000));
}

/// ann talks on a call to `first`; a call to `older` then one to `newer`
/// wait; when ann is free, who is rung.
fn served_first(dir: &str, first: &str, older: &str, newer: &str) -> Vec<(u64, String)> {
    let mut w = World::new(dir);
    w.on_duty("ann");
    let arrive = |w: &mut World, key: u64, dialled: &str| {
        w.switch
            .arrive(
                key,
                "+48600100001",
                dialled,
                Channel::Voice,
                w.now,
                &w.store,
            )
            .unwrap();
        w.actions()
    };
    assert_eq!(rung(&arrive(&mut w, 1, first)), [(1, "ann".to_string())]);
    assert!(w.switch.agent_answered(1, w.now));
    w.at(1_000);
    assert!(rung(&arrive(&mut w, 2, older)).is_empty());
    w.at(2_000);
    assert!(rung(&arrive(&mut w, 3, newer)).is_empty());
    w.at(3_000);
    // The first call is a service call: no wrap-up, ann is free at once.
    assert!(w.switch.agent_ended(1, w.now));
    rung(&w.actions())
}

const SALES: &str = "+48221007000";
const SERVICE: &str = "+48221007001";

/// Issue 18: a campaign's `priority` orders the calls of one queue: a
/// sales call (priority 50) that arrives after a service call is offered
/// first when ann is free.
#[test]
fn a_campaigns_priority_serves_its_calls_first_in_a_shared_queue() {
    let rung = served_first("tests/wrapup-flows/v1", SERVICE, SERVICE, SALES);
    assert_eq!(rung, [(3, "ann".to_string())], "sales first");
}

/// Issue 18: the inbound channel's `priority` adds to its campaign's: in
/// version 2 a service call (channel 60) is served before a sales call
/// (campaign 50) that waited longer.
#[test]
fn the_inbound_channels_priority_adds_to_its_campaigns() {
    let rung = served_first("tests/wrapup-flows/v2", SERVICE, SALES, SERVICE);
    assert_eq!(rung, [(3, "ann".to_string())], "service first");
}

/// Issue 18: each call ages by its own campaign's levels. A service call
/// (priority 0, ×100 after 30 s) that arrived after a sales call (priority
/// 50, no ageing) is served first once it has waited 30 s, not before.
#[test]
fn each_call_ages_by_its_own_campaigns_levels() {
    // ann talks with a first service call while a sales call (at 1 s) and
    // a service call (at 2 s) wait; who is rung when she is free at `ms`.
    let next_at = |ms: i64| {
        let mut w = World::new("tests/ageing-flows");
        w.on_duty("ann");
        for (key, at, dialled) in [(1, 0, SERVICE), (2, 1_000, SALES), (3, 2_000, SERVICE)] {
            w.at(at);
            w.switch
                .arrive(
                    key,
                    "+48600100001",
                    dialled,
                    Channel::Voice,
                    w.now,
                    &w.store,
                )
                .unwrap();
            let rung = rung(&w.actions());
            if key == 1 {
                assert_eq!(rung, [(1, "ann".to_string())]);
                assert!(w.switch.agent_answered(1, w.now));
            } else {
                assert!(rung.is_empty());
            }
        }
        w.at(ms);
        assert!(w.switch.agent_ended(1, w.now));
        rung(&w.actions())
    };
    assert_eq!(
        next_at(20_000),
        [(2, "ann".to_string())],
        "sales first at 20 s"
    );
    // At 40 s the service call has waited 38 s: worth 100 times its priority.
    assert_eq!(
        next_at(40_000),
        [(3, "ann".to_string())],
        "aged service first at 40 s"
    );
}

/// The wallboard's day: a caller who hangs up while waiting abandoned the
/// queue (once, though the flow dequeues the call after), one an agent
/// answers was answered.
#[test]
fn the_day_counts_answered_and_abandoned_calls_per_queue() {
    let mut w = World::new(ACD);
    let today = |w: &World| {
        w.switch
            .directory()
            .queues
            .keys()
            .map(|q| w.switch.queue_today(q))
            .fold((0, 0), |(a, b), (x, y)| (a + x, b + y))
    };
    w.call(1, "+48600100001");
    assert_eq!(w.switch.acd().waiting(), 1);
    w.at(5_000);
    let actions = w.event(1, Event::HangUp);
    assert!(w.released(&actions, 1));
    assert_eq!(today(&w), (0, 1), "abandoned once");
    w.on_duty("ann");
    w.at(6_000);
    let actions = w.call(2, "+48600100002");
    assert_eq!(rung(&actions), [(2, "ann".to_string())]);
    assert!(w.switch.agent_answered(2, w.now));
    assert_eq!(today(&w), (1, 1), "answered");
}
