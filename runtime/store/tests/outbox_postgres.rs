//! The webhook outbox on PostgreSQL: the same cases as `outbox.rs` (those
//! not about a file), each on a fresh database of a server the tests
//! start (Debian's `postgresql`), and what several nodes sharing it need.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

type Store = dialect_store::PgStore;

fn store() -> Store {
    Store::connect(&common::pg::database()).unwrap()
}

include!("cases/outbox.rs");

#[test]
fn nodes_claiming_at_once_claim_each_event_once_in_order() {
    let database = common::pg::database();
    let nodes: Vec<Store> = (0..3).map(|_| Store::connect(&database).unwrap()).collect();
    // 100 calls of 3 events each.
    let calls = 100;
    for n in 0..calls {
        let call = format!("call-{n}");
        nodes[0]
            .enqueue(
                &[
                    event(&call, "call_answered"),
                    event(&call, "wrap_up"),
                    event(&call, "call_ended"),
                ],
                now(),
            )
            .unwrap();
    }
    // Each node claims and delivers until nothing is left; a call's next
    // event can only be claimed once its previous one is delivered.
    let sent: Vec<Vec<(String, u32)>> = std::thread::scope(|s| {
        let sending: Vec<_> = nodes
            .iter()
            .map(|node| {
                s.spawn(move || {
                    let mut sent = Vec::new();
                    let mut idle = 0;
                    while idle < 20 {
                        let batch = node.claim_ready(now(), 5).unwrap();
                        if batch.is_empty() {
                            idle += 1;
                            std::thread::sleep(std::time::Duration::from_millis(5));
                            continue;
                        }
                        idle = 0;
                        for e in batch {
                            sent.push((e.call.clone(), e.seq));
                            node.delivered(e.id).unwrap();
                        }
                    }
                    sent
                })
            })
            .collect();
        sending.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<(String, u32)> = sent.iter().flatten().cloned().collect();
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), total, "an event was claimed twice");
    assert_eq!(total, calls * 3, "every event was sent");
    assert_eq!(nodes[1].backlog().unwrap(), 0);
    assert!(
        sent.iter().filter(|s| !s.is_empty()).count() >= 2,
        "the nodes shared the work"
    );
}

#[test]
fn idempotency_keys_are_unique_in_the_database() {
    let database = common::pg::database();
    let store = Store::connect(&database).unwrap();
    store.enqueue(&[event("a", "call_ended")], now()).unwrap();
    let mut client = postgres::Client::connect(&database, postgres::NoTls).unwrap();
    let err = client
        .batch_execute(
            "INSERT INTO outbox (campaign, call, seq, event, url, body, key, status, next_ms, \
             created_ms) VALUES ('c', 'z', 1, 'e', 'u', '{}', 'a-1-call_ended', 'pending', 0, 0)",
        )
        .unwrap_err();
    assert_eq!(
        err.as_db_error().map(|e| e.code().code()),
        Some("23505"),
        "a unique violation: {err:?}"
    );
}

#[test]
fn a_dead_nodes_event_in_flight_is_sent_again_once_its_lease_lapses() {
    let lease = std::time::Duration::from_millis(900);
    let database = common::pg::database();
    let dead = Store::connect_with_lease(&database, lease).unwrap();
    let live = Store::connect_with_lease(&database, lease).unwrap();
    dead.enqueue(&[event("a", "call_ended")], now()).unwrap();
    assert_eq!(dead.claim_ready(now(), 10).unwrap().len(), 1);
    std::thread::sleep(lease * 2);
    assert!(live.claim_ready(now(), 10).unwrap().is_empty(), "renewed");
    assert_eq!(live.recover_outbox().unwrap(), 0, "a live node's send");
    drop(dead);
    std::thread::sleep(lease * 2);
    let again = live.claim_ready(now(), 10).unwrap();
    assert_eq!(claimed(&again), [("a".into(), 1, "call_ended".into())]);
    assert_eq!(
        again[0].attempts, 0,
        "the interrupted attempt is not counted"
    );
    live.delivered(again[0].id).unwrap();
    assert_eq!(live.backlog().unwrap(), 0);
}

/// A node whose claim was taken over (it stalled past its lease while
/// another node claimed the event) cannot settle that event: it is the
/// other node's; the rest of its batch is settled.
#[test]
fn a_settle_of_an_event_taken_over_by_another_node_is_refused() {
    let database = common::pg::database();
    let slow = Store::connect(&database).unwrap();
    slow.enqueue(&[event("a", "call_ended"), event("b", "call_ended")], now())
        .unwrap();
    let claimed = slow.claim_ready(now(), 10).unwrap();
    assert_eq!(claimed.len(), 2);
    // Another node took the first over (as after a lapsed lease).
    let mut client = postgres::Client::connect(&database, postgres::NoTls).unwrap();
    client
        .execute(
            "UPDATE outbox SET claimed_by = 'another-node' WHERE id = $1",
            &[&claimed[0].id],
        )
        .unwrap();
    let refused = slow.failed(claimed[0].id, "timeout", now()).unwrap_err();
    assert!(
        matches!(refused, dialect_store::StoreError::ClaimedElsewhere { .. }),
        "{refused}"
    );
    slow.settle(&[
        (claimed[0].id, dialect_store::Settled::Delivered),
        (claimed[1].id, dialect_store::Settled::Delivered),
    ])
    .unwrap();
    let sending = slow
        .list_events(Some(dialect_store::OutboxStatus::Sending))
        .unwrap();
    assert_eq!(
        sending.iter().map(|e| e.id).collect::<Vec<_>>(),
        [claimed[0].id],
        "the taken-over event is still the other node's to settle"
    );
    assert_eq!(
        slow.list_events(Some(dialect_store::OutboxStatus::Delivered))
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        [claimed[1].id]
    );
    assert!(matches!(
        slow.delivered(9_999).unwrap_err(),
        dialect_store::StoreError::NoEvent { id: 9_999 }
    ));
}
