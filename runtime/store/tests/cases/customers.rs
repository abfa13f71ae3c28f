// The customer records store's cases, run against every backend: included
// by `tests/customers.rs` (SQLite in memory) and
// `tests/customers_postgres.rs` (a PostgreSQL database the tests start),
// each of which defines `Store` and `store()`.

use std::collections::BTreeMap;

use dialect_store::{Classification, CustomerStore, NewRecord, StoreError};
use jiff::Timestamp;

fn record(numbers: &[&str], name: &str) -> NewRecord {
    NewRecord {
        numbers: numbers.iter().map(|n| n.to_string()).collect(),
        fields: BTreeMap::from([("name".to_string(), name.to_string())]),
    }
}

fn changes(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn at_ms(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(ms).unwrap()
}

#[test]
fn records_are_found_by_any_of_their_numbers_within_their_campaign() {
    let store = store();
    let at = Timestamp::UNIX_EPOCH;
    store
        .import_records(
            "complete",
            &[
                record(&["+48600100200", "+48221000000"], "Jan"),
                record(&["+48600100300"], "Anna"),
                record(&["+48221000000"], "Firma"),
            ],
            at,
        )
        .unwrap();
    store
        .import_records("other", &[record(&["+48600100200"], "Elsewhere")], at)
        .unwrap();
    let one = store.records_of("complete", "+48600100200").unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].fields["name"], "Jan");
    assert_eq!(one[0].numbers, ["+48600100200", "+48221000000"]);
    assert_eq!(
        store.records_of("complete", "+48221000000").unwrap().len(),
        2
    );
    assert!(store.records_of("complete", "+48999").unwrap().is_empty());
    let all = store.all_records("complete").unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(store.record(all[1].id).unwrap().unwrap(), all[1]);
    assert_eq!(store.record(999).unwrap(), None);
    assert_eq!(all[2].fields["name"], "Firma");
    let page = store.records_page("complete", all[0].id, 1).unwrap();
    assert_eq!(page, [all[1].clone()]);
}

#[test]
fn edits_are_versioned_and_classifiers_close_blacklist_and_move_records() {
    let store = store();
    let at = Timestamp::UNIX_EPOCH;
    let ids = store
        .import_records("complete", &[record(&["+48600100200"], "Jan")], at)
        .unwrap();
    let id = ids[0];
    let first = store.record(id).unwrap().unwrap();
    assert_eq!(
        (first.version, first.closed, first.classifier),
        (1, false, None)
    );
    let changes = BTreeMap::from([("name".to_string(), "Jan Kowalski".to_string())]);
    let edited = store.edit_record(id, &changes, 1, at).unwrap();
    assert_eq!(edited.version, 2);
    assert_eq!(edited.fields["name"], "Jan Kowalski");
    // A second edit from the version read before the first is refused.
    let stale = store.edit_record(id, &changes, 1, at).unwrap_err();
    assert!(
        matches!(stale, StoreError::Stale { current: 2, .. }),
        "{stale}"
    );
    assert!(matches!(
        store.edit_record(99, &changes, 1, at),
        Err(StoreError::NoRecord { id: 99 })
    ));
    let closing = Classification {
        classifier: "resolved".into(),
        closes: true,
        success: true,
        keep_on_closed: true,
    };
    let closed = store.classify_record(id, &closing, at).unwrap();
    assert_eq!(closed.classifier.as_deref(), Some("resolved"));
    assert!(closed.closed && closed.success);
    assert_eq!(closed.version, 3);
    // keep_classifier_on_closed: a later classifier leaves it.
    let later = Classification {
        classifier: "call_back".into(),
        keep_on_closed: true,
        ..Classification::default()
    };
    let kept = store.classify_record(id, &later, at).unwrap();
    assert_eq!(kept.classifier.as_deref(), Some("resolved"));
    let changing = Classification {
        keep_on_closed: false,
        ..later
    };
    let changed = store.classify_record(id, &changing, at).unwrap();
    assert_eq!(changed.classifier.as_deref(), Some("call_back"));
    assert!(changed.closed, "a record stays closed");
    assert!(!store.blacklisted("+48600100200").unwrap());
    store.blacklist("+48600100200", "complete", at).unwrap();
    store.blacklist("+48600100200", "complete", at).unwrap();
    assert!(store.blacklisted("+48600100200").unwrap());
    store.move_record(id, "complaints").unwrap();
    assert!(
        store
            .records_of("complete", "+48600100200")
            .unwrap()
            .is_empty()
    );
    let moved = store.records_of("complaints", "+48600100200").unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].classifier.as_deref(), Some("call_back"));
}

#[test]
fn an_import_returns_its_ids_in_order_and_keeps_every_number_and_field() {
    let store = store();
    assert_eq!(
        store.import_records("complete", &[], at_ms(0)).unwrap(),
        Vec::<i64>::new()
    );
    let mut full = record(&["+33100000001", "+33100000002", "+33100000001"], "Zoé");
    full.fields.insert("email".into(), "zoe@example.com".into());
    full.fields.insert("note".into(), "\"quoted\", ünïcode\n".into());
    let bare = NewRecord::default();
    let ids = store
        .import_records("complete", &[full.clone(), bare, record(&[], "Ann")], at_ms(5))
        .unwrap();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let all = store.all_records("complete").unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), ids);
    assert_eq!(all[0].numbers, full.numbers, "every number, in order");
    assert_eq!(all[0].fields, full.fields);
    assert_eq!(all[0].campaign, "complete");
    assert!(all[1].numbers.is_empty() && all[1].fields.is_empty());
    assert!(all[2].numbers.is_empty());
    // A record with a number twice is found once.
    let found = store.records_of("complete", "+33100000001").unwrap();
    assert_eq!(found, [all[0].clone()]);
    // A later import follows.
    let more = store
        .import_records("complete", &[record(&["+33100000001"], "Bob")], at_ms(6))
        .unwrap();
    assert!(more[0] > ids[2]);
    let found = store.records_of("complete", "+33100000001").unwrap();
    assert_eq!(
        found.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[0], more[0]]
    );
    assert!(store.all_records("nowhere").unwrap().is_empty());
}

#[test]
fn pages_and_open_records_follow_the_ids_and_the_closed_state() {
    let store = store();
    let records: Vec<NewRecord> = (0..5)
        .map(|n| record(&[&format!("+4930000000{n}")], &format!("r{n}")))
        .collect();
    let ids = store
        .import_records("complete", &records, at_ms(0))
        .unwrap();
    store
        .import_records("other", &[record(&["+49300000009"], "x")], at_ms(0))
        .unwrap();
    let page = |after: i64, limit: usize| -> Vec<i64> {
        store
            .records_page("complete", after, limit)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect()
    };
    assert_eq!(page(0, 2), ids[..2]);
    assert_eq!(page(ids[1], 2), ids[2..4]);
    assert_eq!(page(ids[3], 10), ids[4..]);
    assert!(page(ids[4], 10).is_empty());
    assert!(page(0, 0).is_empty());
    assert_eq!(page(0, usize::MAX), ids);
    assert_eq!(
        store.records_page("complete", ids[0], 1).unwrap(),
        [store.record(ids[1]).unwrap().unwrap()]
    );
    assert_eq!(store.open_records("complete").unwrap(), 5);
    let closing = Classification {
        classifier: "done".into(),
        closes: true,
        ..Classification::default()
    };
    let open = Classification {
        classifier: "later".into(),
        ..Classification::default()
    };
    store.classify_record(ids[1], &closing, at_ms(1)).unwrap();
    store.classify_record(ids[2], &open, at_ms(1)).unwrap();
    store
        .edit_record(ids[3], &changes(&[("name", "y")]), 1, at_ms(1))
        .unwrap();
    assert_eq!(store.open_records("complete").unwrap(), 4);
    assert_eq!(store.open_records("other").unwrap(), 1);
    assert_eq!(store.open_records("nowhere").unwrap(), 0);
    // Moving a closed record moves it out of this pool and into another.
    store.move_record(ids[1], "other").unwrap();
    assert_eq!(store.open_records("complete").unwrap(), 4);
    assert_eq!(store.open_records("other").unwrap(), 1);
    assert_eq!(page(0, 10), [ids[0], ids[2], ids[3], ids[4]]);
}

#[test]
fn an_edit_changes_only_the_named_fields_and_any_change_moves_the_version_on() {
    let store = store();
    let mut new = record(&["+441000000001"], "Ann");
    new.fields.insert("email".into(), "ann@example.com".into());
    let id = store.import_records("complete", &[new], at_ms(0)).unwrap()[0];
    let edited = store
        .edit_record(
            id,
            &changes(&[("name", "Ann Smith"), ("city", "Leeds")]),
            1,
            at_ms(1),
        )
        .unwrap();
    assert_eq!(
        edited.fields,
        changes(&[
            ("city", "Leeds"),
            ("email", "ann@example.com"),
            ("name", "Ann Smith")
        ])
    );
    assert_eq!(edited.version, 2);
    assert_eq!(edited.numbers, ["+441000000001"]);
    assert_eq!(store.record(id).unwrap().unwrap(), edited);
    // An edit of nothing is an edit: one version on.
    let same = store.edit_record(id, &BTreeMap::new(), 2, at_ms(2)).unwrap();
    assert_eq!((same.version, same.fields), (3, edited.fields.clone()));
    // A classification moves the version on too: an edit from before it
    // is stale, and changes nothing.
    let classified = store
        .classify_record(
            id,
            &Classification {
                classifier: "no_answer".into(),
                ..Classification::default()
            },
            at_ms(3),
        )
        .unwrap();
    assert_eq!(classified.version, 4);
    assert!(!classified.closed && !classified.success);
    let err = store
        .edit_record(id, &changes(&[("name", "lost")]), 3, at_ms(4))
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Stale {
                id: i,
                version: 3,
                current: 4
            } if i == id
        ),
        "{err}"
    );
    // A version from the future is stale as well.
    assert!(matches!(
        store.edit_record(id, &changes(&[("name", "lost")]), 9, at_ms(4)),
        Err(StoreError::Stale {
            version: 9,
            current: 4,
            ..
        })
    ));
    let now = store.record(id).unwrap().unwrap();
    assert_eq!(now, classified);
    assert_eq!(now.fields["name"], "Ann Smith");
    // A missing record is missing whatever version is named.
    assert!(matches!(
        store.edit_record(id + 100, &BTreeMap::new(), 7, at_ms(5)),
        Err(StoreError::NoRecord { id: i }) if i == id + 100
    ));
}

#[test]
fn success_and_closed_stay_once_set_and_missing_records_are_refused() {
    let store = store();
    let id = store
        .import_records("complete", &[record(&["+3900000001"], "Lia")], at_ms(0))
        .unwrap()[0];
    let sale = Classification {
        classifier: "sale".into(),
        success: true,
        ..Classification::default()
    };
    let r = store.classify_record(id, &sale, at_ms(1)).unwrap();
    assert_eq!(
        (r.classifier.as_deref(), r.closed, r.success, r.version),
        (Some("sale"), false, true, 2)
    );
    // Not closed: keep_on_closed does not keep the classifier.
    let follow_up = Classification {
        classifier: "follow_up".into(),
        keep_on_closed: true,
        ..Classification::default()
    };
    let r = store.classify_record(id, &follow_up, at_ms(2)).unwrap();
    assert_eq!(
        (r.classifier.as_deref(), r.closed, r.success, r.version),
        (Some("follow_up"), false, true, 3)
    );
    let close = Classification {
        classifier: "closed".into(),
        closes: true,
        ..Classification::default()
    };
    let r = store.classify_record(id, &close, at_ms(3)).unwrap();
    assert_eq!(
        (r.classifier.as_deref(), r.closed, r.success, r.version),
        (Some("closed"), true, true, 4)
    );
    assert!(matches!(
        store.classify_record(404, &close, at_ms(4)),
        Err(StoreError::NoRecord { id: 404 })
    ));
    assert!(matches!(
        store.move_record(404, "other"),
        Err(StoreError::NoRecord { id: 404 })
    ));
    assert_eq!(store.record(id).unwrap().unwrap().version, 4);
}

#[test]
fn a_moved_record_keeps_its_numbers_fields_and_state() {
    let store = store();
    let ids = store
        .import_records(
            "complete",
            &[
                record(&["+3410000001", "+3410000002"], "Eva"),
                record(&["+3410000002"], "Luis"),
            ],
            at_ms(0),
        )
        .unwrap();
    let edited = store
        .edit_record(ids[0], &changes(&[("name", "Eva M.")]), 1, at_ms(1))
        .unwrap();
    store.move_record(ids[0], "complaints").unwrap();
    let moved = store.record(ids[0]).unwrap().unwrap();
    assert_eq!(
        moved,
        dialect_store::CustomerRecord {
            campaign: "complaints".into(),
            ..edited
        }
    );
    assert_eq!(
        store.all_records("complaints").unwrap(),
        std::slice::from_ref(&moved)
    );
    assert_eq!(
        store
            .all_records("complete")
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect::<Vec<_>>(),
        [ids[1]]
    );
    assert_eq!(
        store.records_of("complaints", "+3410000002").unwrap(),
        std::slice::from_ref(&moved)
    );
    assert_eq!(
        store.records_of("complete", "+3410000002").unwrap()[0].id,
        ids[1]
    );
    // Moving to where it is changes nothing; its version stays.
    store.move_record(ids[0], "complaints").unwrap();
    assert_eq!(store.record(ids[0]).unwrap().unwrap(), moved);
    assert_eq!(moved.version, 2);
}

#[test]
fn the_blacklist_holds_numbers_whatever_the_campaign() {
    let store = store();
    assert!(!store.blacklisted("+48600100200").unwrap());
    store
        .blacklist("+48600100200", "complete", at_ms(1))
        .unwrap();
    store.blacklist("+48600100200", "other", at_ms(2)).unwrap();
    assert!(store.blacklisted("+48600100200").unwrap());
    assert!(!store.blacklisted("+48600100201").unwrap());
    assert!(!store.blacklisted("").unwrap());
    store.blacklist("+48600100201", "other", at_ms(3)).unwrap();
    assert!(store.blacklisted("+48600100201").unwrap());
}
