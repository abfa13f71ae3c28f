//! What the nodes of a cluster share on PostgreSQL besides the stores: the
//! lead (a lease), the nodes' rows, the agents' registrations and the
//! cluster-wide reloads. Each test on a fresh database of a server the
//! tests start (Debian's `postgresql`).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod common;

use dialect_store::{NodeBeat, PgStore};
use std::time::Duration;

fn me(name: &str, incarnation: &str) -> NodeBeat {
    NodeBeat {
        name: name.into(),
        incarnation: incarnation.into(),
        sip: format!("127.0.0.1:{}", 5060 + name.len()),
        admin: String::new(),
        version: r#"{"helpline":"abc"}"#.into(),
    }
}

#[test]
fn one_node_leads_until_its_lease_lapses_then_another_takes_it() {
    let database = common::pg::database();
    let (a, b) = (
        PgStore::connect(&database).unwrap(),
        PgStore::connect(&database).unwrap(),
    );
    let first = a.beat(&me("a", "a-1"), 400).unwrap();
    assert!(first.leader);
    assert_eq!(first.leader_node.as_deref(), Some("a"));
    let second = b.beat(&me("b", "b-1"), 400).unwrap();
    assert!(!second.leader, "the lead is held");
    assert_eq!(second.leader_node.as_deref(), Some("a"));
    // a renews: still its own, b still not.
    std::thread::sleep(Duration::from_millis(250));
    assert!(a.beat(&me("a", "a-1"), 400).unwrap().leader);
    std::thread::sleep(Duration::from_millis(250));
    assert!(!b.beat(&me("b", "b-1"), 400).unwrap().leader, "renewed");
    // a stops beating: its lease lapses and b takes the lead.
    std::thread::sleep(Duration::from_millis(500));
    let taken = b.beat(&me("b", "b-1"), 400).unwrap();
    assert!(taken.leader);
    assert_eq!(taken.leader_node.as_deref(), Some("b"));
    // a comes back: b holds it now.
    let back = a.beat(&me("a", "a-1"), 400).unwrap();
    assert!(!back.leader);
    assert_eq!(back.leader_node.as_deref(), Some("b"));
    let nodes = a.cluster_nodes().unwrap();
    assert_eq!(
        nodes
            .iter()
            .map(|n| (n.name.as_str(), n.leader))
            .collect::<Vec<_>>(),
        [("a", false), ("b", true)]
    );
    assert!(nodes.iter().all(|n| n.seen_ago_ms < 5_000), "{nodes:?}");
    assert_eq!(nodes[0].version, r#"{"helpline":"abc"}"#);
}

#[test]
fn of_nodes_beating_at_once_on_a_lapsed_lead_one_takes_it() {
    let database = common::pg::database();
    let nodes: Vec<PgStore> = (0..4)
        .map(|_| PgStore::connect(&database).unwrap())
        .collect();
    for round in 0..20 {
        let leaders: Vec<bool> = std::thread::scope(|s| {
            let beating: Vec<_> = nodes
                .iter()
                .enumerate()
                .map(|(n, store)| {
                    s.spawn(move || {
                        store
                            .beat(&me(&format!("n{n}"), &format!("n{n}-{round}")), 50)
                            .unwrap()
                            .leader
                    })
                })
                .collect();
            beating.into_iter().map(|b| b.join().unwrap()).collect()
        });
        assert_eq!(
            leaders.iter().filter(|l| **l).count(),
            1,
            "round {round}: {leaders:?}"
        );
        // Every incarnation is new next round: the lead lapses first.
        std::thread::sleep(Duration::from_millis(80));
    }
}

#[test]
fn two_processes_given_one_name_never_both_lead() {
    let database = common::pg::database();
    let store = PgStore::connect(&database).unwrap();
    assert!(store.beat(&me("a", "first"), 10_000).unwrap().leader);
    let twin = store.beat(&me("a", "second"), 10_000).unwrap();
    assert!(!twin.leader, "the other incarnation holds it");
    assert!(store.beat(&me("a", "first"), 10_000).unwrap().leader);
}

#[test]
fn a_node_that_resigns_hands_the_lead_over_at_once() {
    let database = common::pg::database();
    let store = PgStore::connect(&database).unwrap();
    assert!(store.beat(&me("a", "a-1"), 60_000).unwrap().leader);
    assert!(!store.beat(&me("b", "b-1"), 60_000).unwrap().leader);
    // Another incarnation's resignation gives nothing up.
    store.resign("b-1").unwrap();
    assert!(!store.beat(&me("b", "b-1"), 60_000).unwrap().leader);
    store.resign("a-1").unwrap();
    assert!(store.beat(&me("b", "b-1"), 60_000).unwrap().leader);
    assert!(store.forget_node("a").unwrap());
    assert_eq!(
        store
            .cluster_nodes()
            .unwrap()
            .iter()
            .map(|n| n.name.clone())
            .collect::<Vec<_>>(),
        ["b"]
    );
}

#[test]
fn agents_registrations_are_kept_until_they_expire_or_are_removed() {
    let database = common::pg::database();
    let (a, b) = (
        PgStore::connect(&database).unwrap(),
        PgStore::connect(&database).unwrap(),
    );
    let path = vec![
        "<sip:10.0.0.1;lr;received=sip:192.0.2.7:5062>".to_owned(),
        "<sip:10.0.0.2;lr>".to_owned(),
    ];
    a.bind_agent("ann", "sip:ann@192.0.2.7:5062", &path, 3600)
        .unwrap();
    a.bind_agent("ben", "sip:ben@192.0.2.8:5062", &[], 1)
        .unwrap();
    a.bind_agent("cid", "sip:cid@192.0.2.9:5062", &[], 3600)
        .unwrap();
    // Registered again: the newer contact.
    a.bind_agent("cid", "sip:cid@192.0.2.10:5064", &[], 3600)
        .unwrap();
    b.unbind_agent("cid").unwrap();
    let bindings = b.agent_bindings().unwrap();
    assert_eq!(
        bindings
            .iter()
            .map(|b| b.agent.as_str())
            .collect::<Vec<_>>(),
        ["ann", "ben"]
    );
    assert_eq!(bindings[0].path, path, "the Path in its order");
    assert_eq!(bindings[0].contact, "sip:ann@192.0.2.7:5062");
    assert!((3590..=3600).contains(&bindings[0].expires_in_s));
    assert!(bindings[1].path.is_empty());
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        b.agent_bindings()
            .unwrap()
            .iter()
            .map(|b| b.agent.as_str())
            .collect::<Vec<_>>(),
        ["ann"],
        "ben's registration expired"
    );
}

#[test]
fn a_cluster_wide_reload_is_numbered_and_seen_by_every_node() {
    let database = common::pg::database();
    let (a, b) = (
        PgStore::connect(&database).unwrap(),
        PgStore::connect(&database).unwrap(),
    );
    assert_eq!(a.beat(&me("a", "a-1"), 5_000).unwrap().reload, 0);
    let first = b.request_reload("b").unwrap();
    let second = a.request_reload("a").unwrap();
    assert!(second > first && first > 0);
    assert_eq!(a.beat(&me("a", "a-1"), 5_000).unwrap().reload, second);
    assert_eq!(b.beat(&me("b", "b-1"), 5_000).unwrap().reload, second);
}
