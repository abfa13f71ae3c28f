//! Customer records on PostgreSQL: the same cases as `customers.rs`, each
//! on a fresh database of a server the tests start (Debian's
//! `postgresql`), and what several nodes sharing it need.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

type Store = dialect_store::PgStore;

fn store() -> Store {
    Store::connect(&common::pg::database()).unwrap()
}

include!("cases/customers.rs");

// ---- several nodes on one database ------------------------------------------

#[test]
fn two_nodes_editing_the_same_version_at_once_one_wins_the_other_is_stale() {
    let db = common::pg::database();
    let nodes = [Store::connect(&db).unwrap(), Store::connect(&db).unwrap()];
    let id = nodes[0]
        .import_records("complete", &[record(&["+48600100200"], "Jan")], at_ms(0))
        .unwrap()[0];
    let rounds = 25;
    let barrier = std::sync::Barrier::new(nodes.len());
    for round in 0..rounds {
        let version = 1 + round;
        let outcomes: Vec<Result<_, StoreError>> = std::thread::scope(|s| {
            let editing: Vec<_> = nodes
                .iter()
                .enumerate()
                .map(|(n, node)| {
                    let barrier = &barrier;
                    s.spawn(move || {
                        let name = format!("node {n}, round {round}");
                        barrier.wait();
                        node.edit_record(id, &changes(&[("name", &name)]), version, at_ms(1))
                    })
                })
                .collect();
            editing.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<_> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
        assert_eq!(won.len(), 1, "round {round}: {outcomes:?}");
        assert_eq!(won[0].version, version + 1);
        let stale = outcomes.iter().filter(|o| {
            matches!(o, Err(StoreError::Stale { id: i, version: v, current })
                if *i == id && *v == version && *current == version + 1)
        });
        assert_eq!(stale.count(), 1, "round {round}: {outcomes:?}");
        // The winner's edit is the one stored, seen alike by both nodes.
        let stored = nodes[1].record(id).unwrap().unwrap();
        assert_eq!(&stored, won[0]);
        assert_eq!(nodes[0].record(id).unwrap().unwrap(), stored);
    }
    assert_eq!(nodes[0].record(id).unwrap().unwrap().version, 1 + rounds);
}

#[test]
fn nodes_classifying_and_editing_at_once_lose_no_version() {
    let db = common::pg::database();
    let nodes: Vec<Store> = (0..4).map(|_| Store::connect(&db).unwrap()).collect();
    let id = nodes[0]
        .import_records("complete", &[record(&["+48600100200"], "Jan")], at_ms(0))
        .unwrap()[0];
    let each = 20;
    // Each node classifies `each` times, and tries as many edits of the
    // version it has just read.
    let edits: usize = std::thread::scope(|s| {
        let working: Vec<_> = nodes
            .iter()
            .enumerate()
            .map(|(n, node)| {
                s.spawn(move || {
                    let mut edited = 0;
                    for k in 0..each {
                        let classification = Classification {
                            classifier: format!("c{n}-{k}"),
                            ..Classification::default()
                        };
                        node.classify_record(id, &classification, at_ms(1)).unwrap();
                        let read = node.record(id).unwrap().unwrap();
                        let name = format!("{n}-{k}");
                        match node.edit_record(
                            id,
                            &changes(&[("name", &name)]),
                            read.version,
                            at_ms(2),
                        ) {
                            Ok(record) => {
                                assert_eq!(record.version, read.version + 1);
                                assert_eq!(record.fields["name"], name);
                                edited += 1;
                            }
                            Err(StoreError::Stale {
                                version, current, ..
                            }) => {
                                assert_eq!(version, read.version);
                                assert!(current > version, "{current} > {version}");
                            }
                            Err(e) => panic!("{e}"),
                        }
                    }
                    edited
                })
            })
            .collect();
        working.into_iter().map(|h| h.join().unwrap()).sum()
    });
    let last = nodes[0].record(id).unwrap().unwrap();
    let classifications = nodes.len() * each;
    assert_eq!(
        usize::try_from(last.version).unwrap(),
        1 + classifications + edits,
        "every classification and every successful edit is one version"
    );
}
