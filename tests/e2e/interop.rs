//! Interoperability with peers nobody here scripted the runtime for (issue
//! 22): what linphone and baresip expect of a SIP peer.

use crate::sip::{Served, free_udp_port, names};

/// A caller's hold (re-INVITE `a=sendonly`) is answered `a=recvonly`, an
/// `inactive` offer `inactive`, and the resume `sendrecv` (RFC 3264 §6.1);
/// each re-INVITE's 200 carries our answer with its version raised.
#[test]
fn a_callers_hold_is_answered_recvonly_and_the_resume_sendrecv() {
    let served = Served::start("hold", "2026-11-23T09:00:00[Europe/Warsaw]", 62_000);
    let out = served.sipp("caller_holds.xml", "48221000002", free_udp_port(), 62_400);
    assert!(
        out.status.success(),
        "SIPp's checks of the answers failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let events = served.events();
    assert_eq!(
        names(&events)[..2],
        ["call_started", "answered"],
        "{events:?}"
    );
    crate::sip::assert_clean(&served);
}

/// The agent's phone shows who calls: the agent leg's From carries the
/// caller's number with the campaign's name as the display name, and
/// P-Asserted-Identity the same (the agent is ours); SIPp's checks of
/// those headers fail the call otherwise.
#[test]
fn an_agents_phone_is_told_the_callers_number_and_the_campaign() {
    let ann = free_udp_port();
    let served = Served::start_flows(
        "agent-from",
        "2026-11-23T09:00:00[Europe/Warsaw]",
        62_600,
        &crate::acd::agent_config("ann", ann, true),
        "tests/acd-flows/",
    );
    let agent = crate::sip::uas(
        "agent_sees_the_caller.xml",
        ann,
        &["-mp", "62800", "-m", "1", "-timeout", "30s", "-nostdin"],
    );
    let caller = served.one_call("caller_via_proxy.xml", "+48221008888", 62_900, 0);
    crate::sip::finish(agent, "ann's phone");
    crate::sip::finish(caller, "the caller");
    let events = served.events();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "agent_rung" && e["agent"] == "ann"),
        "{events:#?}"
    );
}
