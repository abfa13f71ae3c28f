//! The Dialect engine core: executes compiled flow graphs.
//!
//! The engine performs no I/O and reads no clock. It takes events
//! ([`Event`]: a key, a finished prompt, a timer, an agent, an HTTP answer, a
//! hang-up) together with the current time, and produces commands
//! ([`Command`]: play, start a timer, enqueue, dial, hang up, ...) that an
//! adapter carries out: the SIP/RTP runtime for real calls, the simulator
//! (`dialect test`) with a virtual clock. Post-call surveys (`survey`) run
//! inside calls too, and as survey calls of their own
//! ([`Engine::handle_survey`]); `docs/surveys.md` describes them.

pub mod engine;
pub mod event;
pub mod flow;
pub mod hours;
pub mod script;
pub mod survey;

pub use engine::{
    DYNAMIC_PROMPT, Engine, Refused, STEP_BUDGET, VOICEMAIL_ANNOUNCEMENTS, matches_any,
    voicemail_announcement,
};
pub use event::{
    BotReply, CallId, Command, DialOutcome, Emitted, Event, HttpAuth, Outcome, Step, TimerId,
};
pub use flow::{Flow, FlowError};
pub use survey::{Answer, Question, QuestionKind, Survey, SurveyMode};
