//! The store's operations on PostgreSQL: the same cases as `store.rs`, each
//! on a fresh database of a server the tests start (Debian's
//! `postgresql`).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

type Store = dialect_store::PgStore;

fn store() -> Store {
    Store::connect(&common::pg::database()).unwrap()
}

include!("cases/store.rs");

// ---- several nodes on one database ------------------------------------------

#[test]
fn nodes_claiming_at_once_claim_each_due_callback_once() {
    let database = common::pg::database();
    let nodes = [
        Store::connect(&database).unwrap(),
        Store::connect(&database).unwrap(),
        Store::connect(&database).unwrap(),
    ];
    let calls = 300;
    for n in 0..calls {
        nodes[0]
            .create(&web(&format!("0612{n:06}")), "web", now())
            .unwrap();
    }
    let claimed: Vec<Vec<i64>> = std::thread::scope(|s| {
        let claiming: Vec<_> = nodes
            .iter()
            .map(|node| {
                s.spawn(move || {
                    let mut ids = Vec::new();
                    loop {
                        let batch = node.claim_due(later(1), 7).unwrap();
                        if batch.is_empty() {
                            return ids;
                        }
                        assert!(batch.iter().all(|cb| cb.status == Status::Placing));
                        ids.extend(batch.iter().map(|cb| cb.id));
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
    assert_eq!(all.len(), total, "a callback was claimed twice");
    assert_eq!(total, calls, "every due callback was claimed");
    assert!(
        claimed.iter().filter(|ids| !ids.is_empty()).count() >= 2,
        "the nodes shared the work: {:?}",
        claimed.iter().map(Vec::len).collect::<Vec<_>>()
    );
}

#[test]
fn nodes_creating_the_same_callback_at_once_store_it_once() {
    let database = common::pg::database();
    let nodes: Vec<Store> = (0..4).map(|_| Store::connect(&database).unwrap()).collect();
    let outcomes: Vec<Result<_, StoreError>> = std::thread::scope(|s| {
        let creating: Vec<_> = nodes
            .iter()
            .map(|node| {
                s.spawn(move || {
                    node.create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
                })
            })
            .collect();
        creating.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let created = outcomes.iter().filter(|o| o.is_ok()).count();
    let duplicates = outcomes
        .iter()
        .filter(|o| matches!(o, Err(StoreError::Duplicate { .. })))
        .count();
    assert_eq!((created, duplicates), (1, 3), "{outcomes:?}");
    assert_eq!(nodes[1].list(&Filter::default()).unwrap().len(), 1);
}

#[test]
fn a_database_that_cannot_be_reached_is_named_without_its_password() {
    let err = Store::connect("host=/nonexistent-dialect port=5 user=u password=s3cret dbname=d")
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "cannot connect to the PostgreSQL database postgres://u@%2Fnonexistent-dialect:5/d"
        ),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}

#[test]
fn a_database_written_by_a_newer_version_is_refused() {
    let database = common::pg::database();
    drop(Store::connect(&database).unwrap());
    let mut client = postgres::Client::connect(&database, postgres::NoTls).unwrap();
    client
        .batch_execute("UPDATE dialect_schema SET version = 99")
        .unwrap();
    let err = Store::connect(&database).unwrap_err();
    assert!(
        err.to_string()
            .contains("written by a newer version (schema 99"),
        "{err}"
    );
}

#[test]
fn the_store_works_when_called_inside_tokio_as_the_runtime_calls_it() {
    let database = common::pg::database();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ids = runtime.block_on(async {
        let store = Store::connect(&database).unwrap();
        let created = store
            .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
            .unwrap();
        let claimed = store.claim_due(ts("2025-06-02T13:00:00Z"), 10).unwrap();
        (
            created.callback.id,
            claimed.iter().map(|cb| cb.id).collect::<Vec<_>>(),
        )
    });
    assert_eq!(ids.1, [ids.0]);
}

#[test]
fn a_url_names_the_database_as_the_configuration_does() {
    let url = common::pg::database_url();
    assert!(url.starts_with("postgres://postgres@%2F"), "{url}");
    let store = Store::connect(&url).unwrap();
    assert!(store.list(&Filter::default()).unwrap().is_empty());
}

/// The lease of the takeover tests: renewed every third of it.
const LEASE: std::time::Duration = std::time::Duration::from_millis(900);

#[test]
fn a_dead_nodes_claimed_callback_is_taken_over_once_its_lease_lapses() {
    let database = common::pg::database();
    let dead = Store::connect_with_lease(&database, LEASE).unwrap();
    let live = Store::connect_with_lease(&database, LEASE).unwrap();
    let id = dead
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback
        .id;
    let due = ts("2025-06-02T13:00:00Z");
    assert_eq!(dead.claim_due(due, 10).unwrap().len(), 1);
    // While its holder lives, it renews: nobody else takes the callback,
    // and another node's start-up recovery leaves it alone.
    std::thread::sleep(LEASE * 2);
    assert!(live.claim_due(due, 10).unwrap().is_empty());
    assert!(live.recover(now()).unwrap().is_empty());
    // Its holder dies: the claim lapses and the next claim takes it over,
    // the interrupted attempt counted.
    drop(dead);
    std::thread::sleep(LEASE * 2);
    let taken = live.claim_due(due, 10).unwrap();
    assert_eq!(
        taken
            .iter()
            .map(|cb| (cb.id, cb.attempts))
            .collect::<Vec<_>>(),
        [(id, 1)]
    );
    // It is the live node's now: another cannot settle it.
    let other = Store::connect_with_lease(&database, LEASE).unwrap();
    assert!(matches!(
        other.finish(id, "answered"),
        Err(StoreError::ClaimedElsewhere { .. })
    ));
    assert!(matches!(
        other.retry(id, later(60)),
        Err(StoreError::ClaimedElsewhere { .. })
    ));
    assert_eq!(live.finish(id, "answered").unwrap().status, Status::Done);
}
