//! The records stores (surveys, call records, conversations, tickets) on
//! PostgreSQL: the same cases as `records.rs`, each on a fresh database of
//! a server the tests start (Debian's `postgresql`), and what several
//! nodes sharing it need.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

type Store = dialect_store::PgStore;

fn store() -> Store {
    Store::connect(&common::pg::database()).unwrap()
}

include!("cases/records.rs");

// ---- several nodes on one database ------------------------------------------

#[test]
fn nodes_claiming_at_once_claim_each_due_survey_once() {
    let db = common::pg::database();
    let nodes: Vec<Store> = (0..3).map(|_| Store::connect(&db).unwrap()).collect();
    let surveys = 300;
    let mut scheduled = Vec::new();
    for n in 0..surveys {
        scheduled.push(
            nodes[0]
                .schedule_survey(
                    "helpline",
                    "std/survey.nps",
                    &format!("+48600{n:06}"),
                    at("2026-11-23T10:00:00Z"),
                )
                .unwrap(),
        );
    }
    // Not due yet: never claimed.
    nodes[0]
        .schedule_survey(
            "helpline",
            "std/survey.nps",
            "+48600999999",
            at("2026-11-24T10:00:00Z"),
        )
        .unwrap();
    let claimed: Vec<Vec<i64>> = std::thread::scope(|s| {
        let claiming: Vec<_> = nodes
            .iter()
            .map(|node| {
                s.spawn(move || {
                    let mut ids = Vec::new();
                    loop {
                        let batch = node
                            .claim_due_surveys(at("2026-11-23T11:00:00Z"), 7)
                            .unwrap();
                        if batch.is_empty() {
                            return ids;
                        }
                        assert!(
                            batch
                                .iter()
                                .all(|s| s.status == "placing" && s.attempts == 1)
                        );
                        ids.extend(batch.iter().map(|s| s.id));
                    }
                })
            })
            .collect();
        claiming.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<i64> = claimed.iter().flatten().copied().collect();
    all.sort_unstable();
    let total = all.len();
    all.dedup();
    assert_eq!(all.len(), total, "a survey call was claimed twice");
    assert_eq!(all, scheduled, "every due survey call was claimed");
    assert!(
        claimed.iter().filter(|ids| !ids.is_empty()).count() >= 2,
        "the nodes shared the work: {:?}",
        claimed.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(
        nodes[1].next_survey_due().unwrap(),
        Some(at("2026-11-24T10:00:00Z"))
    );
}

#[test]
fn nodes_expiring_at_once_return_each_conversation_once() {
    let db = common::pg::database();
    let nodes: Vec<Store> = (0..3).map(|_| Store::connect(&db).unwrap()).collect();
    let mut old = Vec::new();
    for n in 0..200 {
        old.push(
            nodes[0]
                .record_conversation(&recording(&format!("call-{n}"), "helpline", 1_000 + n))
                .unwrap(),
        );
    }
    let kept = nodes[0]
        .record_conversation(&recording("call-new", "helpline", 10_000))
        .unwrap();
    let before = Timestamp::from_millisecond(5_000).unwrap();
    let expired: Vec<Vec<i64>> = std::thread::scope(|s| {
        let expiring: Vec<_> = nodes
            .iter()
            .map(|node| {
                s.spawn(move || {
                    node.expire_conversations(before)
                        .unwrap()
                        .iter()
                        .map(|r| r.id)
                        .collect()
                })
            })
            .collect();
        expiring.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<i64> = expired.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, old, "each expired conversation is returned once");
    let left: Vec<i64> = nodes[2]
        .conversations(None, 10)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(left, [kept]);
}

#[test]
fn nodes_opening_tickets_at_once_get_distinct_ids() {
    let db = common::pg::database();
    let nodes: Vec<Store> = (0..3).map(|_| Store::connect(&db).unwrap()).collect();
    let now = at("2026-11-23T09:00:00Z");
    let opened: Vec<Vec<i64>> = std::thread::scope(|s| {
        let opening: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                s.spawn(move || {
                    (0..50)
                        .map(|k| {
                            let t = new_ticket("web", &format!("customer {n}-{k}"));
                            if k % 10 == 0 {
                                // Far apart: the ids the store gives after
                                // one (150 at most) never reach another.
                                let id =
                                    i64::try_from(1_000_000 * (k / 10 + 1) + 1_000 * n).unwrap();
                                node.insert_ticket(Some(id), &t, now).unwrap().id
                            } else {
                                node.open_ticket(&t, now).unwrap().id
                            }
                        })
                        .collect()
                })
            })
            .collect();
        opening.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<i64> = opened.into_iter().flatten().collect();
    all.sort_unstable();
    let total = all.len();
    all.dedup();
    assert_eq!((all.len(), total), (150, 150));
    assert_eq!(nodes[0].tickets().unwrap().len(), 150);
}

#[test]
fn a_dead_nodes_survey_call_is_taken_over_once_its_lease_lapses() {
    let lease = std::time::Duration::from_millis(900);
    let database = common::pg::database();
    let dead = Store::connect_with_lease(&database, lease).unwrap();
    let live = Store::connect_with_lease(&database, lease).unwrap();
    let due = at("2026-11-23T10:00:00Z");
    let id = dead
        .schedule_survey("helpline", "std/survey.nps", "+48600100200", due)
        .unwrap();
    assert_eq!(dead.claim_due_surveys(due, 10).unwrap().len(), 1);
    std::thread::sleep(lease * 2);
    assert!(
        live.claim_due_surveys(due, 10).unwrap().is_empty(),
        "renewed"
    );
    assert_eq!(live.recover_surveys().unwrap(), 0, "a live node's call");
    drop(dead);
    std::thread::sleep(lease * 2);
    let taken = live.claim_due_surveys(due, 10).unwrap();
    assert_eq!(taken.iter().map(|s| s.id).collect::<Vec<_>>(), [id]);
    let other = Store::connect_with_lease(&database, lease).unwrap();
    assert!(matches!(
        other.finish_survey(id, true, "answered"),
        Err(StoreError::ClaimedElsewhere { .. })
    ));
    live.finish_survey(id, true, "answered").unwrap();
}
