//! The embedded store: callbacks (SPEC 5.5) with their validation, and
//! beside them the relationships of the ACD, survey results and scheduled
//! survey calls ([`SurveyStore`]), handoff tickets ([`TicketStore`]), and
//! the webhook outbox ([`OutboxStore`]).
//!
//! Tables (one SQLite file, schema version 6 in `PRAGMA user_version`):
//! `callbacks`, `relationships` ([`CallbackStore`], [`RelationshipStore`]);
//! `survey_answers`, `scheduled_surveys` ([`SurveyStore`]); `calls`,
//! `wrap_ups`, `voicemails`, `call_recordings` ([`RecordStore`]); `tickets` ([`TicketStore`]);
//! `customer_records`, `record_numbers`, `record_states`, `blacklist` ([`CustomerStore`]: customer
//! records by campaign, found by phone number; their field types in
//! [`fields`]);
//! `outbox` ([`OutboxStore`]: one row per webhook event and URL, with its
//! campaign, its call, its number in the call, its JSON body, its unique
//! idempotency key, `pending`/`sending`/`delivered`/`dead`, its attempts,
//! when it may be tried next, its last error, and whether it is its call's
//! oldest open event, the only one that may be sent).
//!
//! Four kinds of callback ([`Kind`]): *courtesy* (a caller in a queue asks to
//! be called back instead of waiting, and keeps their place), *web* (a request
//! from a website), *scheduled* (a date and time window chosen through the
//! agent API) and *personal* (scheduled, and assigned to the creating agent or
//! a member of their teams). When a callback is due the runtime rings an agent,
//! then the customer, and bridges them.
//!
//! - [`validate`] checks a [`CallbackRequest`] (the JSON of the agent API or
//!   the website) without a database and returns a [`Valid`] request or every
//!   [`Refusal`].
//! - [`CallbackStore`] stores callbacks and drives their life cycle
//!   (`pending` → `placing` → `done`/`failed`, or `cancelled`);
//!   [`RelationshipStore`] keeps the last agent and the owner of each number
//!   per campaign. [`SqliteStore`] implements both on an embedded SQLite file.
//!
//! Delivery: pending callbacks fire exactly once ([`CallbackStore::claim_due`]
//! is one transaction); callbacks being placed when the process died fire at
//! least once more after [`CallbackStore::recover`].

#![warn(missing_docs)]

mod customers;
pub mod fields;
mod outbox;
mod pg;
mod pg_cluster;
mod pg_customers;
mod pg_outbox;
mod pg_records;
mod records;
mod sqlite;
mod store;
mod validate;

pub use customers::{Classification, CustomerRecord, CustomerStore, NewRecord};
pub use outbox::{
    NewEvent, OutboxEvent, OutboxStatus, OutboxStore, Settled, body as webhook_body,
    idempotency_key,
};
pub use pg::{PgStore, redacted};
pub use pg_cluster::{Beat, Binding, ClusterNode, NodeBeat};
pub use records::{
    CallRecord, CallRecording, NewTicket, RecordStore, ScheduledSurvey, SurveyAnswer, SurveyStore,
    Ticket, TicketStore,
};
pub use sqlite::{DEFAULT_MAX_ATTEMPTS, SqliteStore};
pub use store::{Callback, CallbackStore, Created, Filter, RelationshipStore, Status, StoreError};
pub use validate::{
    CallbackRequest, Context, DEFAULT_ZONE, Kind, MAX_DIGITS, MAX_LEAD, MAX_NAME, MAX_REASON,
    MIN_DIGITS, MIN_LEAD, MIN_NAME, QueueAccess, Refusal, Valid, normalize_number, validate,
};
