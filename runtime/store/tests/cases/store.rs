// The callback and relationship store's cases, run against every backend:
// included by `tests/store.rs` (SQLite in memory) and
// `tests/store_postgres.rs` (a PostgreSQL database the tests start), each
// of which defines `Store` and `store()`.

use common::{later, now, request, scheduled, valid_req, web};
use dialect_store::{CallbackStore, Filter, Kind, RelationshipStore, Status, StoreError};
use jiff::Timestamp;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

// ---- create, get, list ------------------------------------------------------

#[test]
fn create_stores_every_field() {
    let store = store();
    let mut req = request(Kind::Personal, "+33 1 23 45 67 89", "2025-06-02T12:00");
    req.end = Some("2025-06-02T12:30".to_owned());
    req.assignee = Some("bob".to_owned());
    let created = store.create(&valid_req(&req), "alice", now()).unwrap();
    assert!(!created.duplicate);
    let cb = created.callback;
    assert_eq!(cb.kind, Kind::Personal);
    assert_eq!(cb.number, "+33123456789");
    assert_eq!(cb.name, "Jeanne Martin");
    assert_eq!(cb.start, ts("2025-06-02T10:00:00Z"));
    assert_eq!(cb.end, Some(ts("2025-06-02T10:30:00Z")));
    assert_eq!(cb.zone, "Europe/Paris");
    assert_eq!(cb.queue, "sales");
    assert_eq!(cb.reason.as_deref(), Some("invoice"));
    assert_eq!(cb.assignee.as_deref(), Some("bob"));
    assert_eq!(cb.created_by, "alice");
    assert_eq!(cb.created, now());
    assert_eq!(cb.status, Status::Pending);
    assert_eq!(cb.attempts, 0);
    assert_eq!(cb.due, cb.start);
    assert_eq!(store.get(cb.id).unwrap(), cb);
}

#[test]
fn callback_serialises_with_rfc3339_timestamps() {
    let store = store();
    let cb = store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let json = serde_json::to_value(&cb).unwrap();
    assert_eq!(json["kind"], "scheduled");
    assert_eq!(json["status"], "pending");
    assert_eq!(json["start"], "2025-06-02T10:00:00Z");
    assert_eq!(json["end"], serde_json::Value::Null);
    assert_eq!(json["created"], "2025-06-02T08:00:00Z");
    assert_eq!(json["number"], "0123456789");
}

#[test]
fn get_unknown_callback_is_not_found() {
    let err = store().get(42).unwrap_err();
    assert!(matches!(err, StoreError::NotFound { id: 42 }));
    assert_eq!(err.to_string(), "there is no callback 42");
}

#[test]
fn list_is_ordered_by_start_and_filtered() {
    let store = store();
    let c = store
        .create(&scheduled("0100000003", "2025-06-03T09:00"), "alice", now())
        .unwrap()
        .callback;
    let a = store
        .create(&scheduled("0100000001", "2025-06-02T11:00"), "alice", now())
        .unwrap()
        .callback;
    let mut req = request(Kind::Personal, "0100000002", "2025-06-02T15:00");
    req.queue = "support".to_owned();
    req.assignee = Some("bob".to_owned());
    let b = store
        .create(&valid_req(&req), "alice", now())
        .unwrap()
        .callback;

    let ids = |f: Filter| -> Vec<i64> { store.list(&f).unwrap().iter().map(|c| c.id).collect() };
    assert_eq!(ids(Filter::default()), [a.id, b.id, c.id]);
    assert_eq!(
        ids(Filter {
            queue: Some("sales".to_owned()),
            ..Filter::default()
        }),
        [a.id, c.id]
    );
    // An agent sees what they created and what is assigned to them.
    assert_eq!(
        ids(Filter {
            agent: Some("bob".to_owned()),
            ..Filter::default()
        }),
        [b.id]
    );
    assert_eq!(
        ids(Filter {
            agent: Some("alice".to_owned()),
            ..Filter::default()
        }),
        [a.id, b.id, c.id]
    );
    store.cancel(c.id, "alice", now()).unwrap();
    assert_eq!(
        ids(Filter {
            status: Some(Status::Pending),
            ..Filter::default()
        }),
        [a.id, b.id]
    );
    assert_eq!(
        ids(Filter {
            status: Some(Status::Cancelled),
            agent: Some("alice".to_owned()),
            queue: Some("sales".to_owned()),
        }),
        [c.id]
    );
}

// ---- deduplication ------------------------------------------------------------

#[test]
fn scheduled_duplicate_is_refused_naming_the_existing_callback() {
    let store = store();
    let first = store
        .create(
            &scheduled("+33 1 23 45 67 89", "2025-06-02T12:00"),
            "alice",
            now(),
        )
        .unwrap()
        .callback;
    // Same number written differently, same queue.
    let err = store
        .create(
            &scheduled("+33.1.23.45.67.89", "2025-06-03T09:00"),
            "bob",
            now(),
        )
        .unwrap_err();
    match &err {
        StoreError::Duplicate { existing, .. } => assert_eq!(*existing, first.id),
        other => panic!("expected a duplicate, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "already has callback {} pending on queue sales",
            first.id
        )),
        "{message}"
    );
    assert!(
        message.contains("due 2025-06-02 12:00 (Europe/Paris)"),
        "{message}"
    );
    assert_eq!(store.list(&Filter::default()).unwrap().len(), 1);
}

#[test]
fn personal_duplicate_is_refused() {
    let store = store();
    store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap();
    let personal = valid_req(&request(Kind::Personal, "0123456789", "2025-06-02T13:00"));
    assert!(matches!(
        store.create(&personal, "alice", now()),
        Err(StoreError::Duplicate { .. })
    ));
}

#[test]
fn same_number_on_another_queue_is_not_a_duplicate() {
    let store = store();
    store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap();
    let mut req = request(Kind::Scheduled, "0123456789", "2025-06-02T12:00");
    req.queue = "support".to_owned();
    let created = store.create(&valid_req(&req), "alice", now()).unwrap();
    assert!(!created.duplicate);
    assert_eq!(store.list(&Filter::default()).unwrap().len(), 2);
}

#[test]
fn web_duplicate_returns_the_existing_callback() {
    let store = store();
    let first = store.create(&web("0123456789"), "website", now()).unwrap();
    assert!(!first.duplicate);
    let again = store
        .create(&web("01 23 45 67 89"), "website", later(1))
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.callback, first.callback);
    assert_eq!(store.list(&Filter::default()).unwrap().len(), 1);
}

#[test]
fn courtesy_request_returns_a_pending_scheduled_callback() {
    let store = store();
    let first = store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let courtesy = valid_req(&request(Kind::Courtesy, "0123456789", ""));
    let again = store.create(&courtesy, "ivr", now()).unwrap();
    assert!(again.duplicate);
    assert_eq!(again.callback.id, first.id);
}

#[test]
fn a_finished_or_cancelled_callback_is_not_a_duplicate() {
    let store = store();
    let first = store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    store.cancel(first.id, "alice", now()).unwrap();
    let second = store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap();
    assert!(!second.duplicate);
    assert_ne!(second.callback.id, first.id);
}

#[test]
fn a_callback_being_placed_is_a_duplicate() {
    let store = store();
    let first = store
        .create(&web("0123456789"), "website", now())
        .unwrap()
        .callback;
    assert_eq!(store.claim_due(now(), 10).unwrap().len(), 1);
    let again = store
        .create(&web("0123456789"), "website", later(1))
        .unwrap();
    assert!(again.duplicate);
    assert_eq!(again.callback.id, first.id);
    assert_eq!(again.callback.status, Status::Placing);
}

// ---- update and cancel ----------------------------------------------------------

#[test]
fn update_before_start_changes_the_callback() {
    let store = store();
    let cb = store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let mut req = request(Kind::Scheduled, "0987654321", "2025-06-04T16:00");
    req.reason = None;
    let updated = store
        .update(cb.id, &valid_req(&req), "bob", later(10))
        .unwrap();
    assert_eq!(updated.id, cb.id);
    assert_eq!(updated.number, "0987654321");
    assert_eq!(updated.start, ts("2025-06-04T14:00:00Z"));
    assert_eq!(updated.due, updated.start);
    assert_eq!(updated.reason, None);
    assert_eq!(updated.created_by, "alice");
    assert_eq!(updated.changed_by.as_deref(), Some("bob"));
    assert_eq!(store.get(cb.id).unwrap(), updated);
}

#[test]
fn update_after_start_is_refused() {
    let store = store();
    let cb = store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let new = scheduled("0123456789", "2025-06-03T12:00");
    // At the start time itself, and after it.
    for when in [cb.start, later(121)] {
        let err = store.update(cb.id, &new, "alice", when).unwrap_err();
        assert!(matches!(err, StoreError::Started { id, .. } if id == cb.id));
        assert_eq!(
            err.to_string(),
            format!(
                "callback {} started at 2025-06-02 12:00 (Europe/Paris) and can no longer be \
                 changed",
                cb.id
            )
        );
    }
    assert_eq!(store.get(cb.id).unwrap(), cb);
}

#[test]
fn cancel_after_start_is_refused() {
    let store = store();
    let cb = store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let err = store.cancel(cb.id, "alice", later(120)).unwrap_err();
    assert!(matches!(err, StoreError::Started { .. }));
    assert!(err.to_string().contains("can no longer be changed"));
    assert_eq!(store.get(cb.id).unwrap().status, Status::Pending);
}

#[test]
fn cancel_before_start_cancels_once() {
    let store = store();
    let cb = store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let cancelled = store.cancel(cb.id, "bob", later(5)).unwrap();
    assert_eq!(cancelled.status, Status::Cancelled);
    assert_eq!(cancelled.changed_by.as_deref(), Some("bob"));
    let err = store.cancel(cb.id, "bob", later(6)).unwrap_err();
    assert!(matches!(
        err,
        StoreError::NotPending {
            status: Status::Cancelled,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!(
            "callback {} is cancelled and can no longer be changed",
            cb.id
        )
    );
    // Cancelled callbacks are never claimed.
    assert!(store.claim_due(later(200), 10).unwrap().is_empty());
}

#[test]
fn update_of_a_callback_being_placed_is_refused() {
    let store = store();
    let cb = store
        .create(&web("0123456789"), "website", now())
        .unwrap()
        .callback;
    store.claim_due(now(), 10).unwrap();
    let err = store.cancel(cb.id, "alice", now()).unwrap_err();
    assert!(matches!(
        err,
        StoreError::NotPending {
            status: Status::Placing,
            ..
        }
    ));
    assert!(err.to_string().contains("is being placed"));
}

#[test]
fn update_and_cancel_of_unknown_callback_are_not_found() {
    let store = store();
    let v = scheduled("0123456789", "2025-06-02T12:00");
    assert!(matches!(
        store.update(9, &v, "alice", now()),
        Err(StoreError::NotFound { id: 9 })
    ));
    assert!(matches!(
        store.cancel(9, "alice", now()),
        Err(StoreError::NotFound { id: 9 })
    ));
}

#[test]
fn update_onto_another_pending_number_is_a_duplicate() {
    let store = store();
    let a = store
        .create(&scheduled("0100000001", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let b = store
        .create(&scheduled("0100000002", "2025-06-02T13:00"), "alice", now())
        .unwrap()
        .callback;
    let err = store
        .update(
            b.id,
            &scheduled("0100000001", "2025-06-02T14:00"),
            "alice",
            now(),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Duplicate { existing, .. } if existing == a.id));
    // Updating a callback onto its own number is fine.
    store
        .update(
            a.id,
            &scheduled("0100000001", "2025-06-02T14:00"),
            "alice",
            now(),
        )
        .unwrap();
}

#[test]
fn update_cannot_change_the_kind() {
    let store = store();
    let cb = store
        .create(&scheduled("0123456789", "2025-06-02T12:00"), "alice", now())
        .unwrap()
        .callback;
    let personal = valid_req(&request(Kind::Personal, "0123456789", "2025-06-02T12:00"));
    let err = store.update(cb.id, &personal, "alice", now()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "callback {} is a scheduled callback and cannot become a personal callback",
            cb.id
        )
    );
}

// ---- claiming and placing ---------------------------------------------------------

#[test]
fn claim_due_returns_each_due_callback_once() {
    let store = store();
    let a = store
        .create(&scheduled("0100000001", "2025-06-02T11:00"), "alice", now())
        .unwrap()
        .callback;
    let b = store
        .create(&scheduled("0100000002", "2025-06-02T10:45"), "alice", now())
        .unwrap()
        .callback;
    let c = store
        .create(&scheduled("0100000003", "2025-06-02T13:00"), "alice", now())
        .unwrap()
        .callback;
    assert_eq!(store.next_due().unwrap(), Some(b.start));
    assert!(store.claim_due(now(), 10).unwrap().is_empty());

    // At 11:00 Paris, a and b are due, earliest first.
    let claimed = store.claim_due(a.start, 10).unwrap();
    let ids: Vec<i64> = claimed.iter().map(|c| c.id).collect();
    assert_eq!(ids, [b.id, a.id]);
    assert!(claimed.iter().all(|c| c.status == Status::Placing));
    assert!(store.claim_due(a.start, 10).unwrap().is_empty());
    assert_eq!(store.next_due().unwrap(), Some(c.start));

    let claimed = store.claim_due(later(24 * 60), 10).unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].id, c.id);
    assert_eq!(store.next_due().unwrap(), None);
}

#[test]
fn claim_due_respects_the_limit() {
    let store = store();
    for n in 1..=5 {
        store
            .create(&web(&format!("010000000{n}")), "website", now())
            .unwrap();
    }
    assert_eq!(store.claim_due(now(), 2).unwrap().len(), 2);
    assert_eq!(store.claim_due(now(), 2).unwrap().len(), 2);
    assert_eq!(store.claim_due(now(), 2).unwrap().len(), 1);
    assert_eq!(store.claim_due(now(), 2).unwrap().len(), 0);
}

#[test]
fn finish_marks_done_with_the_outcome() {
    let store = store();
    let cb = store
        .create(&web("0123456789"), "website", now())
        .unwrap()
        .callback;
    let err = store.finish(cb.id, "answered").unwrap_err();
    assert!(matches!(
        err,
        StoreError::NotPlacing {
            status: Status::Pending,
            ..
        }
    ));
    assert_eq!(
        err.to_string(),
        format!("callback {} is pending, not being placed", cb.id)
    );
    store.claim_due(now(), 1).unwrap();
    let done = store.finish(cb.id, "answered").unwrap();
    assert_eq!(done.status, Status::Done);
    assert_eq!(done.outcome.as_deref(), Some("answered"));
    assert!(matches!(
        store.finish(cb.id, "again"),
        Err(StoreError::NotPlacing {
            status: Status::Done,
            ..
        })
    ));
}

#[test]
fn retry_reschedules_then_gives_up() {
    let store = store().with_max_attempts(3);
    let cb = store
        .create(&web("0123456789"), "website", now())
        .unwrap()
        .callback;
    assert!(matches!(
        store.retry(cb.id, later(5)),
        Err(StoreError::NotPlacing { .. })
    ));

    store.claim_due(now(), 1).unwrap();
    let first = store.retry(cb.id, later(5)).unwrap();
    assert_eq!(first.status, Status::Pending);
    assert_eq!(first.attempts, 1);
    assert_eq!(first.due, later(5));
    assert_eq!(first.start, cb.start);
    assert_eq!(store.next_due().unwrap(), Some(later(5)));
    assert!(store.claim_due(later(4), 1).unwrap().is_empty());

    assert_eq!(store.claim_due(later(5), 1).unwrap().len(), 1);
    assert_eq!(store.retry(cb.id, later(10)).unwrap().attempts, 2);

    assert_eq!(store.claim_due(later(10), 1).unwrap().len(), 1);
    let failed = store.retry(cb.id, later(15)).unwrap();
    assert_eq!(failed.status, Status::Failed);
    assert_eq!(failed.attempts, 3);
    assert!(failed.outcome.unwrap().contains("gave up after 3 attempts"));
    assert!(store.claim_due(later(60), 10).unwrap().is_empty());
    assert_eq!(store.next_due().unwrap(), None);
}

#[test]
fn recover_puts_placing_callbacks_back_to_pending() {
    let store = store();
    let cb = store
        .create(&web("0123456789"), "website", now())
        .unwrap()
        .callback;
    let other = store
        .create(&web("0987654321"), "website", later(1))
        .unwrap()
        .callback;
    assert_eq!(store.claim_due(now(), 1).unwrap().len(), 1);

    let recovered = store.recover(later(2)).unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].id, cb.id);
    assert_eq!(recovered[0].status, Status::Pending);
    assert_eq!(recovered[0].attempts, 1);
    // The untouched pending callback is unchanged.
    assert_eq!(store.get(other.id).unwrap(), other);
    // Nothing left to recover; the interrupted callback fires again.
    assert!(store.recover(later(2)).unwrap().is_empty());
    let ids: Vec<i64> = store
        .claim_due(later(2), 10)
        .unwrap()
        .iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [cb.id, other.id]);
}

#[test]
fn recover_gives_up_on_a_callback_that_keeps_being_interrupted() {
    let store = store().with_max_attempts(2);
    let cb = store
        .create(&web("0123456789"), "website", now())
        .unwrap()
        .callback;
    store.claim_due(now(), 1).unwrap();
    assert_eq!(store.recover(now()).unwrap()[0].status, Status::Pending);
    store.claim_due(now(), 1).unwrap();
    let recovered = store.recover(now()).unwrap();
    assert_eq!(recovered[0].id, cb.id);
    assert_eq!(recovered[0].status, Status::Failed);
    assert_eq!(recovered[0].attempts, 2);
    assert!(
        recovered[0]
            .outcome
            .as_deref()
            .unwrap()
            .contains("interrupted")
    );
}

// ---- relationships ----------------------------------------------------------------

#[test]
fn last_agent_and_owner_per_campaign_and_number() {
    let store = store();
    assert_eq!(store.last_agent("acme", "0123456789").unwrap(), None);
    assert_eq!(store.owner("acme", "0123456789").unwrap(), None);

    store
        .set_last_agent("acme", "01 23 45 67 89", "alice", now())
        .unwrap();
    assert_eq!(
        store.last_agent("acme", "0123456789").unwrap(),
        Some(("alice".to_owned(), now()))
    );
    store
        .set_last_agent("acme", "0123456789", "bob", later(5))
        .unwrap();
    assert_eq!(
        store.last_agent("acme", "01.23.45.67.89").unwrap(),
        Some(("bob".to_owned(), later(5)))
    );
    assert_eq!(store.last_agent("other", "0123456789").unwrap(), None);

    // The owner is independent of the last agent.
    assert_eq!(store.owner("acme", "0123456789").unwrap(), None);
    store.set_owner("acme", "0123456789", "carol").unwrap();
    assert_eq!(
        store.owner("acme", "01-23-45-67-89").unwrap().as_deref(),
        Some("carol")
    );
    assert_eq!(
        store.last_agent("acme", "0123456789").unwrap(),
        Some(("bob".to_owned(), later(5)))
    );
    store.set_owner("new", "0123456789", "dave").unwrap();
    assert_eq!(store.last_agent("new", "0123456789").unwrap(), None);
    store.clear_owner("acme", "0123456789").unwrap();
    assert_eq!(store.owner("acme", "0123456789").unwrap(), None);
}

#[test]
fn the_store_is_shareable_and_usable_as_trait_objects() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Store>();
    send_sync::<StoreError>();
    let store = store();
    let callbacks: &dyn CallbackStore = &store;
    let relationships: &dyn RelationshipStore = &store;
    assert!(callbacks.list(&Filter::default()).unwrap().is_empty());
    assert_eq!(relationships.owner("acme", "0123456789").unwrap(), None);
}
