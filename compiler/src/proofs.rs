//! What proves each setting (issue 18): for every setting of every
//! declaration and block in [`crate::schema`], the test that shows its
//! effect at run time, the scenario that does, why it only matters at
//! compile time, or, for a setting the runtime does not carry out yet, what
//! is missing. `dialect explain` says so for those (see `docs.rs`), and
//! the test `every_setting_is_proven_or_says_it_is_pending` (tests/e2e/
//! settings.rs) walks the schema: a setting without an entry, an entry
//! without a setting, a test or scenario that does not exist, or a longer
//! pending list fails it.

/// How a setting's effect is proven.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// A test function: `path/to/file.rs::function`.
    Test(&'static str),
    /// A scenario: `path/to/file.test.toml::its name`.
    Scenario(&'static str),
    /// It only matters at compile time: why.
    Compile(&'static str),
    /// The runtime carries it out, but no test or scenario proves it yet:
    /// where it is carried out.
    Untested(&'static str),
    /// Nothing at run time carries it out yet: what is missing.
    Pending(&'static str),
}

/// The proof of `owner`'s `setting`, if it has one.
pub fn proof(owner: &str, setting: &str) -> Option<&'static Proof> {
    PROOFS
        .iter()
        .find(|(o, s, _)| *o == owner && *s == setting)
        .map(|(_, _, p)| p)
}

/// Every setting's proof: (owner, setting, proof).
pub const PROOFS: &[(&str, &str, Proof)] = &[
    (
        "campaign",
        "name",
        Proof::Compile(
            "A display name only: the runtime knows a campaign by its declared identifier (program.name) and nothing reads the setting",
        ),
    ),
    (
        "campaign",
        "id",
        Proof::Test(
            "tests/e2e/notify.rs::a_voicemail_is_emailed_with_its_recording_and_survives_a_kill_9_before_delivery",
        ),
    ),
    (
        "campaign",
        "enabled",
        Proof::Test(
            "runtime/server/tests/harness.rs::a_disabled_campaign_refuses_calls_in_serve_and_in_the_simulator",
        ),
    ),
    (
        "campaign",
        "numbers",
        Proof::Test(
            "runtime/switch/tests/switch.rs::dialled_numbers_and_transfer_targets_are_read_as_the_flows_declare_them",
        ),
    ),
    (
        "campaign",
        "country_code",
        Proof::Compile(
            "The compiler reads numbers written without a country code with it (check::campaign_country_code); the switch's national-number routing is tested only with the default 48 (runtime/switch/tests/switch.rs::dialled_numbers_and_transfer_targets_are_read_as_the_flows_declare_them)",
        ),
    ),
    (
        "campaign",
        "handling",
        Proof::Pending(
            "Nothing reads it: every call is handled automatically, there is no manual web-panel or phone handling",
        ),
    ),
    (
        "campaign",
        "priority",
        Proof::Test(
            "runtime/switch/tests/switch.rs::a_campaigns_priority_serves_its_calls_first_in_a_shared_queue",
        ),
    ),
    (
        "campaign",
        "max_unhandled_per_agent",
        Proof::Test(
            "runtime/switch/tests/switch.rs::an_agent_owing_too_many_wrap_ups_gets_no_calls_until_the_block_lifts",
        ),
    ),
    (
        "campaign",
        "unblock_at",
        Proof::Test(
            "runtime/switch/tests/switch.rs::an_agent_owing_too_many_wrap_ups_gets_no_calls_until_the_block_lifts",
        ),
    ),
    (
        "campaign",
        "exclude_records_from",
        Proof::Test(
            "runtime/switch/tests/switch.rs::classifiers_move_records_unless_the_target_excludes_them",
        ),
    ),
    (
        "campaign",
        "starts",
        Proof::Scenario(
            "flows/complete.test.toml::helpline before its first day (2025-12-31 23:59 Warsaw): refused, nothing plays",
        ),
    ),
    (
        "campaign",
        "ends",
        Proof::Scenario(
            "flows/complete.test.toml::helpline after its last day (2028-01-01 00:00 Warsaw): refused",
        ),
    ),
    (
        "campaign",
        "max_recall_date",
        Proof::Test(
            "runtime/switch/src/wrapup.rs::max_recall_and_max_recall_date_bound_the_recall",
        ),
    ),
    (
        "campaign",
        "recall_window",
        Proof::Test(
            "runtime/switch/src/wrapup.rs::a_recall_outside_the_windows_waits_for_the_next_one",
        ),
    ),
    (
        "campaign",
        "recording",
        Proof::Test(
            "tests/e2e/recording.rs::a_conversation_is_recorded_in_two_channels_with_its_pauses_silent",
        ),
    ),
    (
        "campaign",
        "recording_name",
        Proof::Test(
            "tests/e2e/notify.rs::a_voicemail_is_emailed_with_its_recording_and_survives_a_kill_9_before_delivery",
        ),
    ),
    (
        "campaign",
        "ticket_sla",
        Proof::Test(
            "runtime/server/tests/harness.rs::every_alert_kind_is_raised_and_cleared_once_and_mailed_to_the_supervisors",
        ),
    ),
    (
        "campaign",
        "recording_resume_after",
        Proof::Test(
            "tests/e2e/recording.rs::a_conversation_is_recorded_in_two_channels_with_its_pauses_silent",
        ),
    ),
    (
        "campaign",
        "webhook",
        Proof::Test("tests/e2e/webhooks.rs::a_missed_call_an_edit_and_a_wrap_up_are_sent_in_order"),
    ),
    (
        "campaign",
        "wrap_up",
        Proof::Test(
            "runtime/switch/tests/switch.rs::wrap_up_follows_the_calls_campaign_and_a_reload_changes_it_for_the_next_call",
        ),
    ),
    (
        "campaign",
        "extra_wrap_up",
        Proof::Test(
            "runtime/switch/tests/switch.rs::wrap_up_follows_the_calls_campaign_and_a_reload_changes_it_for_the_next_call",
        ),
    ),
    (
        "campaign",
        "music_on_hold",
        Proof::Test(
            "tests/e2e/acd.rs::twenty_callers_three_agents_priority_order_rona_wrap_up_hold_and_transfer",
        ),
    ),
    (
        "campaign",
        "queue_music",
        Proof::Test(
            "runtime/switch/tests/switch.rs::a_waiting_caller_hears_music_and_announcements_and_takes_a_courtesy_callback",
        ),
    ),
    (
        "campaign",
        "voicemail_email",
        Proof::Test(
            "tests/e2e/notify.rs::a_voicemail_is_emailed_with_its_recording_and_survives_a_kill_9_before_delivery",
        ),
    ),
    (
        "campaign",
        "voicemail_without_announcement",
        Proof::Test(
            "runtime/engine/tests/engine.rs::a_voicemail_is_emailed_to_the_blocks_address_else_the_campaigns",
        ),
    ),
    (
        "campaign",
        "required_skill",
        Proof::Pending(
            "directory.rs ignores it: agents serve a queue only through the queue's agents, teams and skill",
        ),
    ),
    (
        "campaign",
        "survey",
        Proof::Scenario(
            "tests/survey-scenarios/surveys.test.toml::after call: ann hangs up first; both questions, in the order written: yes, 5",
        ),
    ),
    (
        "campaign",
        "sticky_agent",
        Proof::Scenario(
            "tests/acd-scenarios/acd.test.toml::sticky: the last agent is busy, the call waits for him 2 min, then ann takes it",
        ),
    ),
    (
        "campaign",
        "private_record",
        Proof::Test(
            "runtime/sim/tests/run.rs::a_private_record_goes_to_its_owner_before_the_last_agent",
        ),
    ),
    (
        "campaign",
        "keep_classifier_on_closed",
        Proof::Test(
            "runtime/store/src/customers.rs::edits_are_versioned_and_classifiers_close_blacklist_and_move_records",
        ),
    ),
    (
        "campaign",
        "callback_unconnected",
        Proof::Test(
            "runtime/switch/tests/switch.rs::callback_unconnected_always_calls_back_and_never_refuses_the_block",
        ),
    ),
    (
        "campaign",
        "authorisation",
        Proof::Compile(
            "Lowered as the source of every authorise block that sets none (lower.rs campaign_word); the source's effect is proven by runtime/switch/tests/switch.rs::internal_authorisation_matches_what_the_caller_keys_against_their_records",
        ),
    ),
    (
        "campaign",
        "sensitive_data",
        Proof::Test(
            "runtime/server/tests/harness.rs::the_agent_sees_the_identified_callers_record_with_the_call",
        ),
    ),
    (
        "campaign",
        "supervisors",
        Proof::Test(
            "runtime/server/tests/harness.rs::a_campaigns_supervisors_have_the_supervisor_role",
        ),
    ),
    (
        "campaign",
        "agents",
        Proof::Pending(
            "directory.rs ignores campaign membership: agents serve a queue only through the queue's agents, teams and skill",
        ),
    ),
    (
        "campaign",
        "teams",
        Proof::Pending(
            "directory.rs ignores campaign membership: agents serve a queue only through the queue's agents, teams and skill",
        ),
    ),
    (
        "field",
        "type",
        Proof::Test(
            "tests/e2e/records.rs::imported_records_identify_callers_and_bad_rows_refuse_the_whole_file",
        ),
    ),
    (
        "field",
        "editable",
        Proof::Test("tests/e2e/webhooks.rs::imported_records_are_announced_as_record_added"),
    ),
    (
        "field",
        "required",
        Proof::Test(
            "tests/e2e/acd.rs::the_agent_api_wraps_up_with_required_fields_and_guards_call_data",
        ),
    ),
    (
        "field",
        "significant",
        Proof::Test(
            "tests/e2e/notify.rs::a_voicemail_is_emailed_with_its_recording_and_survives_a_kill_9_before_delivery",
        ),
    ),
    (
        "field",
        "in_recording_name",
        Proof::Test(
            "tests/e2e/notify.rs::a_voicemail_is_emailed_with_its_recording_and_survives_a_kill_9_before_delivery",
        ),
    ),
    (
        "classifier",
        "label",
        Proof::Test(
            "tests/e2e/records.rs::a_recall_classifier_places_the_recall_on_time_and_the_blacklist_stops_another",
        ),
    ),
    (
        "classifier",
        "recall",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: unknown number, CRM says gold, key 1 (sales): carol answers, hangs up first; CSAT 5",
        ),
    ),
    (
        "classifier",
        "closes",
        Proof::Test(
            "runtime/switch/tests/switch.rs::classifiers_move_records_unless_the_target_excludes_them",
        ),
    ),
    (
        "classifier",
        "success",
        Proof::Test(
            "runtime/store/src/customers.rs::edits_are_versioned_and_classifiers_close_blacklist_and_move_records",
        ),
    ),
    (
        "classifier",
        "offered_for",
        Proof::Test(
            "runtime/switch/tests/switch.rs::classifiers_move_records_unless_the_target_excludes_them",
        ),
    ),
    (
        "classifier",
        "recall_after",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: one record, customer number + # accepted, CRM says business, key 2 (invoices): erin answers; CSAT: 9 is no answer, then 4",
        ),
    ),
    (
        "classifier",
        "max_recall",
        Proof::Test(
            "runtime/switch/tests/switch.rs::classifiers_move_records_unless_the_target_excludes_them",
        ),
    ),
    (
        "classifier",
        "move_to",
        Proof::Test(
            "runtime/switch/tests/switch.rs::classifiers_move_records_unless_the_target_excludes_them",
        ),
    ),
    (
        "classifier",
        "blacklist",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: several records, ticket id accepted, CRM look-up fails (500), key 3 (outage): technical queue, grace answers; no CSAT key: unanswered",
        ),
    ),
    (
        "classifier",
        "email",
        Proof::Test(
            "runtime/switch/tests/switch.rs::classifiers_move_records_unless_the_target_excludes_them",
        ),
    ),
    (
        "classifier",
        "sms",
        Proof::Test(
            "tests/e2e/records.rs::a_recall_classifier_places_the_recall_on_time_and_the_blacklist_stops_another",
        ),
    ),
    (
        "classifier",
        "private_to",
        Proof::Test(
            "tests/e2e/acd.rs::the_agent_api_wraps_up_with_required_fields_and_guards_call_data",
        ),
    ),
    (
        "alert",
        "threshold",
        Proof::Test(
            "runtime/server/tests/harness.rs::every_alert_kind_is_raised_and_cleared_once_and_mailed_to_the_supervisors",
        ),
    ),
    (
        "channel",
        "priority",
        Proof::Test(
            "runtime/switch/tests/switch.rs::the_inbound_channels_priority_adds_to_its_campaigns",
        ),
    ),
    (
        "channel",
        "max_load",
        Proof::Pending(
            "Nothing reads it: directory.rs reads only the inbound channel's priority and age; an agent's load is the agent's max_load",
        ),
    ),
    (
        "channel",
        "max_wait",
        Proof::Pending(
            "Nothing reads it: directory.rs reads only the inbound channel's priority and age",
        ),
    ),
    (
        "channel",
        "overflow_queue",
        Proof::Pending(
            "Nothing reads it: directory.rs reads only the inbound channel's priority and age; overflow is the queue's overflow_queue",
        ),
    ),
    (
        "channel",
        "age",
        Proof::Scenario(
            "tests/acd-scenarios/acd.test.toml::ageing: after 2 min of waiting a call overtakes a newer VIP call",
        ),
    ),
    (
        "variable",
        "editable",
        Proof::Test(
            "tests/e2e/acd.rs::the_agent_api_wraps_up_with_required_fields_and_guards_call_data",
        ),
    ),
    (
        "variable",
        "secure",
        Proof::Test(
            "tests/e2e/acd.rs::the_agent_api_wraps_up_with_required_fields_and_guards_call_data",
        ),
    ),
    (
        "variable",
        "default",
        Proof::Test(
            "tests/e2e/acd.rs::the_agent_api_wraps_up_with_required_fields_and_guards_call_data",
        ),
    ),
    (
        "schedule",
        "zone",
        Proof::Scenario(
            "flows/scheme1.test.toml::Friday before the change, 08:00 CEST (06:00 UTC): open",
        ),
    ),
    (
        "schedule",
        "hours",
        Proof::Scenario("flows/scheme1.test.toml::Saturday 10:00: closed, disconnected at once"),
    ),
    (
        "schedule",
        "closed",
        Proof::Scenario(
            "flows/scheme4.test.toml::Easter Monday 2027-03-29 10:00: holiday prompt, disconnected",
        ),
    ),
    (
        "schedule",
        "open",
        Proof::Test("runtime/engine/src/hours.rs::exceptions_win_over_weekly_hours"),
    ),
    (
        "queue",
        "max_wait",
        Proof::Scenario(
            "flows/complete.test.toml::complaints: Monday 09:00, nobody in administration for 5 minutes: a message",
        ),
    ),
    (
        "queue",
        "skill",
        Proof::Test(
            "runtime/switch/tests/switch.rs::a_reload_replaces_campaigns_ring_times_and_skills_for_the_next_call",
        ),
    ),
    (
        "queue",
        "agents",
        Proof::Scenario(
            "tests/acd-scenarios/acd.test.toml::longest idle: ben, ready since 10 s, gets the call before ann, ready since 30 s",
        ),
    ),
    (
        "queue",
        "teams",
        Proof::Test(
            "runtime/sim/tests/run.rs::declared_agents_serve_their_queues_without_a_queue_field",
        ),
    ),
    (
        "queue",
        "music",
        Proof::Untested(
            "switch waiting.rs plays it instead of the campaign's queue_music, but no flow run by a test sets it",
        ),
    ),
    (
        "queue",
        "entry_prompt",
        Proof::Test(
            "runtime/server/tests/harness.rs::a_queues_own_entry_prompt_is_played_when_the_block_has_none",
        ),
    ),
    (
        "queue",
        "announce_every",
        Proof::Test("runtime/server/tests/harness.rs::a_queue_blocks_announce_every_is_the_calls"),
    ),
    (
        "queue",
        "ring_time",
        Proof::Scenario(
            "tests/acd-scenarios/acd.test.toml::RONA: ann never answers, after the 10 s ring time ben gets the call",
        ),
    ),
    (
        "queue",
        "max_size",
        Proof::Test("runtime/sim/tests/run.rs::a_queue_at_its_maximum_size_answers_full"),
    ),
    (
        "queue",
        "overflow_queue",
        Proof::Scenario(
            "tests/acd-scenarios/acd.test.toml::overflow: nobody in front for 30 s, the call moves to backup and dan answers",
        ),
    ),
    (
        "queue",
        "courtesy_callback",
        Proof::Test(
            "runtime/switch/tests/switch.rs::a_waiting_caller_hears_music_and_announcements_and_takes_a_courtesy_callback",
        ),
    ),
    (
        "queue",
        "priority",
        Proof::Untested(
            "switch queueing.rs adds it to every call in the queue, but no test or scenario depends on it",
        ),
    ),
    (
        "queue",
        "service_level",
        Proof::Test("tests/e2e/notify.rs::wait_and_talk_time_alerts_reach_the_supervisor_by_email"),
    ),
    (
        "queue",
        "service_time",
        Proof::Test("tests/e2e/notify.rs::wait_and_talk_time_alerts_reach_the_supervisor_by_email"),
    ),
    (
        "queue",
        "extension",
        Proof::Scenario(
            "flows/complete.test.toml::staff: extension 200 (the sales queue): dave answers from the queue; no survey",
        ),
    ),
    (
        "skill",
        "description",
        Proof::Compile("Documentation only; nothing at run time reads it"),
    ),
    (
        "team",
        "members",
        Proof::Test(
            "runtime/sim/tests/run.rs::declared_agents_serve_their_queues_without_a_queue_field",
        ),
    ),
    (
        "agent",
        "name",
        Proof::Compile(
            "A display name only: the runtime knows agents by their declared identifier (directory.rs short name)",
        ),
    ),
    (
        "agent",
        "uri",
        Proof::Test(
            "runtime/server/tests/harness.rs::an_agent_without_a_configured_uri_is_rung_at_the_flows_uri",
        ),
    ),
    (
        "agent",
        "skills",
        Proof::Test(
            "runtime/switch/tests/switch.rs::a_reload_replaces_campaigns_ring_times_and_skills_for_the_next_call",
        ),
    ),
    (
        "agent",
        "max_load",
        Proof::Scenario(
            "tests/acd-scenarios/acd.test.toml::max load 2: cid takes a second call while talking",
        ),
    ),
    (
        "agent",
        "extension",
        Proof::Scenario(
            "flows/complete.test.toml::staff: extension 123 typed: carol's phone rings, she answers; no survey",
        ),
    ),
    (
        "survey",
        "mode",
        Proof::Scenario(
            "tests/survey-scenarios/surveys.test.toml::outbound: ann took the call: the NPS survey is scheduled for an hour later",
        ),
    ),
    (
        "survey",
        "delay",
        Proof::Scenario(
            "tests/survey-scenarios/surveys.test.toml::outbound: ann took the call: the NPS survey is scheduled for an hour later",
        ),
    ),
    (
        "survey",
        "intro",
        Proof::Scenario(
            "tests/survey-scenarios/surveys.test.toml::after call: ann hangs up first; both questions, in the order written: yes, 5",
        ),
    ),
    (
        "survey",
        "outro",
        Proof::Scenario(
            "tests/survey-scenarios/surveys.test.toml::after call: ann hangs up first; both questions, in the order written: yes, 5",
        ),
    ),
    (
        "question",
        "type",
        Proof::Scenario(
            "tests/survey-scenarios/surveys.test.toml::after call: ann hangs up first; both questions, in the order written: yes, 5",
        ),
    ),
    (
        "question",
        "prompt",
        Proof::Scenario(
            "tests/survey-scenarios/surveys.test.toml::after call: ann hangs up first; both questions, in the order written: yes, 5",
        ),
    ),
    (
        "question",
        "retries",
        Proof::Scenario(
            "tests/survey-scenarios/surveys.test.toml::after call: key 2 during the question is no; no key for the csat question twice (one retry): unanswered",
        ),
    ),
    (
        "bot",
        "knowledge",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::knowledge base: a Polish question gets the Polish answer, then silence: done",
        ),
    ),
    (
        "bot",
        "endpoint",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::external bot: it asks for the handoff itself, with its reason",
        ),
    ),
    (
        "bot",
        "threshold",
        Proof::Test(
            "runtime/bot/tests/bot/conversation.rs::the_external_bot_cannot_answer_or_asks_for_a_handoff",
        ),
    ),
    (
        "bot",
        "languages",
        Proof::Test(
            "runtime/bot/tests/bot/conversation.rs::without_a_knowledge_base_the_bot_cannot_take_the_call",
        ),
    ),
    (
        "bot",
        "timeout",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::external bot too slow: a reply after 3 s comes after its 2 s timeout",
        ),
    ),
    (
        "bot",
        "greeting",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::knowledge base: a Polish question gets the Polish answer, then silence: done",
        ),
    ),
    (
        "bot",
        "handoff",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::custom trigger in Polish, written without diacritics and in upper case: ann answers",
        ),
    ),
    (
        "handoff",
        "default_triggers",
        Proof::Test(
            "runtime/bot/tests/bot/conversation.rs::without_default_triggers_cannot_answer_gets_the_fallback",
        ),
    ),
    (
        "handoff",
        "triggers",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::custom trigger with a star: refund* matches refunded",
        ),
    ),
    (
        "handoff",
        "mode",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::mode none: a trigger phrase, a request for a human and a question it cannot answer get the fallback; then an answer; done",
        ),
    ),
    (
        "handoff",
        "teams",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::custom trigger in Polish, written without diacritics and in upper case: ann answers",
        ),
    ),
    (
        "handoff",
        "users",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::mode async, users: the English word refund opens a ticket for cleo and dan",
        ),
    ),
    (
        "handoff",
        "rule",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::rule on the caller: a +44 caller goes to the intl team, owner gil (rotation starts)",
        ),
    ),
    (
        "handoff",
        "rotate_by_channel",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::rotation: one other +44 caller handed off first, so this ticket's owner is hugo",
        ),
    ),
    (
        "handoff",
        "message_available",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::custom trigger in Polish, written without diacritics and in upper case: ann answers",
        ),
    ),
    (
        "handoff",
        "message_unavailable",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::default trigger: the bot cannot answer (low confidence); nobody in the queue for 2 minutes",
        ),
    ),
    (
        "handoff",
        "message_unassigned",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::no rule holds (a Polish voice caller from +48): nobody assigned, a ticket and message_unassigned",
        ),
    ),
    (
        "handoff",
        "unassigned",
        Proof::Untested(
            "controller/chat.rs keeps an unassigned live chat open or closes it, but no test leaves a live chat handoff unassigned",
        ),
    ),
    (
        "say",
        "voice",
        Proof::Pending(
            "Not lowered: Prompt::Say carries only text and language, so espeak-ng always uses its default voice",
        ),
    ),
    (
        "say",
        "language",
        Proof::Test("runtime/media/tests/media/prompt.rs::say_errors_are_clear"),
    ),
    (
        "menu",
        "prompt",
        Proof::Compile(
            "Lowered into the same Op::Menu prompt as the prompt written after `menu`, which every flow uses; the menu prompt is proven by flows/complete.test.toml::helpline: one record, the caller types no customer number: not verified without a look-up; CRM login times out; key 0, then silence: goodbye",
        ),
    ),
    (
        "menu",
        "timeout",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: one record, the caller types no customer number: not verified without a look-up; CRM login times out; key 0, then silence: goodbye",
        ),
    ),
    (
        "menu",
        "retries",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: one record, the caller types no customer number: not verified without a look-up; CRM login times out; key 0, then silence: goodbye",
        ),
    ),
    (
        "menu",
        "invalid_prompt",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: several records, no ticket id typed, key 4: the partner is busy, back at the menu, three wrong keys: goodbye",
        ),
    ),
    (
        "menu",
        "no_input_prompt",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: one record, the caller types no customer number: not verified without a look-up; CRM login times out; key 0, then silence: goodbye",
        ),
    ),
    (
        "extension",
        "prompt",
        Proof::Scenario(
            "flows/complete.test.toml::staff: extension 123 typed: carol's phone rings, she answers; no survey",
        ),
    ),
    (
        "extension",
        "digits",
        Proof::Scenario(
            "flows/complete.test.toml::staff: extension 123 typed: carol's phone rings, she answers; no survey",
        ),
    ),
    (
        "extension",
        "timeout",
        Proof::Scenario(
            "flows/complete.test.toml::staff: Saturday night, no extension typed: asked three times, then disconnected; no survey",
        ),
    ),
    (
        "extension",
        "retries",
        Proof::Scenario(
            "flows/complete.test.toml::staff: Saturday night, no extension typed: asked three times, then disconnected; no survey",
        ),
    ),
    (
        "authorise",
        "source",
        Proof::Test(
            "runtime/switch/tests/switch.rs::internal_authorisation_matches_what_the_caller_keys_against_their_records",
        ),
    ),
    (
        "authorise",
        "url",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: one record, customer number + # accepted, CRM says business, key 2 (invoices): erin answers; CSAT: 9 is no answer, then 4",
        ),
    ),
    (
        "authorise",
        "prompt",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: one record, customer number + # accepted, CRM says business, key 2 (invoices): erin answers; CSAT: 9 is no answer, then 4",
        ),
    ),
    (
        "authorise",
        "timeout",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: one record, the caller types no customer number: not verified without a look-up; CRM login times out; key 0, then silence: goodbye",
        ),
    ),
    (
        "ticket",
        "prompt",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: several records, ticket id accepted, CRM look-up fails (500), key 3 (outage): technical queue, grace answers; no CSAT key: unanswered",
        ),
    ),
    (
        "ticket",
        "digits",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: several records, ticket id accepted, CRM look-up fails (500), key 3 (outage): technical queue, grace answers; no CSAT key: unanswered",
        ),
    ),
    (
        "ticket",
        "timeout",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: several records, no ticket id typed, key 4: the partner is busy, back at the menu, three wrong keys: goodbye",
        ),
    ),
    (
        "api_login",
        "url",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: unknown number, CRM says gold, key 1 (sales): carol answers, hangs up first; CSAT 5",
        ),
    ),
    (
        "api_login",
        "user",
        Proof::Test(
            "tests/e2e/http.rs::api_login_and_api_request_take_each_documented_exit_against_a_real_server",
        ),
    ),
    (
        "api_login",
        "secret",
        Proof::Test(
            "tests/e2e/http.rs::api_login_and_api_request_take_each_documented_exit_against_a_real_server",
        ),
    ),
    (
        "api_login",
        "timeout",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: foreign caller: the English welcome; CRM login answers too late; key 1, dave answers; CSAT: 6, silence, then 5",
        ),
    ),
    (
        "api_request",
        "url",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: unknown number, CRM says gold, key 1 (sales): carol answers, hangs up first; CSAT 5",
        ),
    ),
    (
        "api_request",
        "method",
        Proof::Test(
            "tests/e2e/http.rs::api_login_and_api_request_take_each_documented_exit_against_a_real_server",
        ),
    ),
    (
        "api_request",
        "body",
        Proof::Test(
            "runtime/engine/tests/engine.rs::api_request_bodies_are_json_and_answers_are_data_not_code",
        ),
    ),
    (
        "api_request",
        "into",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: unknown number, CRM says gold, key 1 (sales): carol answers, hangs up first; CSAT 5",
        ),
    ),
    (
        "api_request",
        "timeout",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: several records, unknown ticket id, CRM look-up times out, key 4 (meter reading): the partner answers",
        ),
    ),
    (
        "dial",
        "timeout",
        Proof::Scenario(
            "flows/complete.test.toml::outage hotline: nobody for 3 minutes, the engineer on call does not answer in 45 s: outage mailbox",
        ),
    ),
    (
        "dial",
        "caller_id",
        Proof::Test(
            "runtime/server/tests/harness.rs::a_dial_shows_its_caller_id_to_the_called_party",
        ),
    ),
    (
        "voicemail",
        "greeting",
        Proof::Scenario(
            "flows/complete.test.toml::helpline: one record, the CRM refuses the customer number, CRM login fails (500), key 9: a message for administration",
        ),
    ),
    (
        "voicemail",
        "without_announcement",
        Proof::Test(
            "runtime/engine/tests/engine.rs::a_voicemail_is_emailed_to_the_blocks_address_else_the_campaigns",
        ),
    ),
    (
        "voicemail",
        "email",
        Proof::Test(
            "runtime/engine/tests/engine.rs::a_voicemail_is_emailed_to_the_blocks_address_else_the_campaigns",
        ),
    ),
    (
        "voicemail",
        "max_length",
        Proof::Test(
            "tests/e2e/notify.rs::a_voicemail_is_emailed_with_its_recording_and_survives_a_kill_9_before_delivery",
        ),
    ),
    (
        "callback",
        "queue",
        Proof::Test(
            "runtime/server/tests/harness.rs::a_callback_block_stores_its_queue_reason_and_delay",
        ),
    ),
    (
        "callback",
        "prompt",
        Proof::Scenario(
            "flows/complete.test.toml::outage hotline: 10 callers already on the outage path: the 11th gets the outage notice and a callback",
        ),
    ),
    (
        "callback",
        "delay",
        Proof::Test(
            "runtime/server/tests/harness.rs::a_callback_block_stores_its_queue_reason_and_delay",
        ),
    ),
    (
        "callback",
        "reason",
        Proof::Test(
            "runtime/server/tests/harness.rs::a_callback_block_stores_its_queue_reason_and_delay",
        ),
    ),
    (
        "bot",
        "max_turns",
        Proof::Scenario(
            "tests/bot-scenarios/bots.test.toml::mode none: an English question it cannot answer gets the English fallback; max_turns ends the conversation",
        ),
    ),
    (
        "hangup",
        "reason",
        Proof::Test(
            "tests/e2e/http.rs::api_login_and_api_request_take_each_documented_exit_against_a_real_server",
        ),
    ),
];
