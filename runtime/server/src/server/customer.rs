//! The customer agent on calls (SPEC 5.6): the engine asks for bot turns,
//! this module answers them with the `dialect-bot` conversation (the
//! embedded knowledge-base bot, or an external bot over the bot protocol),
//! hears the caller through the speech-to-text service (voice activity
//! detection in the leg, one request per utterance), speaks through
//! text-to-speech or espeak-ng, and carries out handoffs: the handoff's
//! message (team available or not), a ticket for asynchronous handoffs,
//! then the `handoff` exit. Anything that fails is the documented fallback:
//! the customer agent cannot take the call (`cannot_answer`).

use super::{Core, MediaCommand, fields};
use crate::services::ServiceResult;
use dialect_acd::State;
use dialect_acd::directory::short;
use dialect_bot::{
    BotConfig, Channel, Conversation, KnowledgeBase, RequestContext, Step, TicketFacts,
    parse_response,
};
use dialect_bytecode::{Program, Prompt};
use dialect_callbacks::NewTicket;
use dialect_engine::{BotReply, Event};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reads and parses a knowledge base (`file` relative to `root`).
fn read_knowledge(root: &Path, file: &str) -> Result<KnowledgeBase, String> {
    std::fs::read_to_string(root.join(file))
        .map_err(|e| e.to_string())
        .and_then(|text| KnowledgeBase::parse(&text).map_err(|e| e.to_string()))
}

/// The customer agents of the loaded flows.
#[derive(Default)]
pub(crate) struct Bots {
    /// By (campaign, bot's qualified name).
    configs: HashMap<(String, String), Arc<BotConfig>>,
    /// Knowledge bases by file.
    knowledge: HashMap<String, Arc<KnowledgeBase>>,
    /// Why a knowledge base could not be loaded, by file.
    broken: HashMap<String, String>,
    /// Bots an operator paused (a default handoff trigger).
    pub paused: std::collections::HashSet<String>,
    /// Owner rotation for handoff tickets.
    pub router: dialect_bot::Router,
}

impl Bots {
    /// Reads every program's bots and their knowledge bases (files relative
    /// to the flows' directory). A knowledge base that does not load is
    /// remembered: that bot cannot take calls, and says why in the log.
    pub(crate) fn new<'a>(
        programs: impl IntoIterator<Item = &'a Program>,
        root: &Path,
        endpoints: &std::collections::BTreeMap<String, String>,
    ) -> Bots {
        let mut bots = Bots::default();
        for program in programs {
            for decl in program.decls.iter().filter(|d| d.kind == "bot") {
                let Some(mut config) = BotConfig::from_program(program, &decl.name) else {
                    continue;
                };
                if let Some(endpoint) = endpoints
                    .get(&decl.name)
                    .or_else(|| endpoints.get(short(&decl.name)))
                {
                    config.endpoint = Some(endpoint.clone());
                }
                if let Some(file) = config.knowledge.clone()
                    && !bots.knowledge.contains_key(&file)
                    && !bots.broken.contains_key(&file)
                {
                    match read_knowledge(root, &file) {
                        Ok(kb) => {
                            bots.knowledge.insert(file, Arc::new(kb));
                        }
                        Err(error) => {
                            tracing::warn!(
                                bot = %decl.name,
                                file = %root.join(&file).display(),
                                %error,
                                "a knowledge base does not load: its customer agent cannot take calls"
                            );
                            bots.broken.insert(file, error);
                        }
                    }
                }
                bots.configs
                    .insert((program.name.clone(), decl.name.clone()), Arc::new(config));
            }
        }
        bots
    }

    /// Why the knowledge base of a bot of `program` does not load, if one
    /// does not: a reload refuses such a version (the running one keeps
    /// serving) rather than install a customer agent that cannot answer.
    pub(crate) fn broken_knowledge(program: &Program, root: &Path) -> Option<String> {
        program
            .decls
            .iter()
            .filter(|d| d.kind == "bot")
            .find_map(|decl| {
                let config = BotConfig::from_program(program, &decl.name)?;
                let file = config.knowledge?;
                read_knowledge(root, &file).err().map(|error| {
                    format!(
                        "campaign `{}`: the knowledge base {} of bot `{}` does not load: {error}",
                        program.name,
                        root.join(&file).display(),
                        decl.name
                    )
                })
            })
    }

    /// The bot of that name (qualified, or its last part), with the
    /// campaign it was found in.
    pub(crate) fn find(&self, bot: &str) -> Option<(String, Arc<BotConfig>)> {
        self.configs
            .iter()
            .filter(|((_, name), _)| name == bot || short(name) == bot)
            .min_by(|a, b| a.0.cmp(b.0))
            .map(|((campaign, _), config)| (campaign.clone(), config.clone()))
    }

    /// A bot's knowledge base, if it has one that loaded.
    pub(crate) fn knowledge_of(&self, config: &BotConfig) -> Option<Arc<KnowledgeBase>> {
        config
            .knowledge
            .as_ref()
            .and_then(|f| self.knowledge.get(f))
            .cloned()
    }

    fn conversation(
        &self,
        campaign: &str,
        bot: &str,
        id: String,
        caller: &str,
    ) -> Option<Conversation> {
        let config = self
            .configs
            .get(&(campaign.to_string(), bot.to_string()))?
            .clone();
        let kb = config
            .knowledge
            .as_ref()
            .and_then(|f| self.knowledge.get(f))
            .cloned();
        let context = RequestContext {
            campaign: campaign.to_string(),
            caller: caller.to_string(),
            variables: Default::default(),
        };
        Some(Conversation::new(config, kb, Channel::Voice).with_context(id, context))
    }
}

impl Core {
    /// The engine asks for the customer agent's next turn.
    pub(super) fn bot_turn(&mut self, call_key: u64, bot: String, utterance: Option<String>) {
        let paused = self.bots.paused.contains(short(&bot));
        let step = match utterance {
            None => {
                let Some(call) = self.calls.get(&call_key) else {
                    return;
                };
                let conversation = self.bots.conversation(
                    &call.campaign,
                    &bot,
                    format!("call-{call_key}"),
                    &call.number,
                );
                let Some(mut conversation) = conversation else {
                    self.record(
                        call_key,
                        "bot_unavailable",
                        fields([
                            ("bot", bot.into()),
                            ("why", "no such customer agent".into()),
                        ]),
                    );
                    return self
                        .pending
                        .push_back((call_key, Event::BotReply(BotReply::CannotAnswer)));
                };
                let broken = conversation.config().knowledge.as_ref().and_then(|f| {
                    self.bots
                        .broken
                        .get(f)
                        .map(|e| format!("knowledge base {f}: {e}"))
                });
                if let Some(why) = broken {
                    self.record(call_key, "bot_unavailable", fields([("why", why.into())]));
                    return self
                        .pending
                        .push_back((call_key, Event::BotReply(BotReply::CannotAnswer)));
                }
                let step = conversation.first_turn();
                if let Some(call) = self.calls.get_mut(&call_key) {
                    call.conversation = Some(conversation);
                    if self.services.can_hear() {
                        let _ = call.media.try_send(MediaCommand::Listen);
                    }
                }
                self.record(call_key, "bot_started", fields([("bot", bot.into())]));
                step
            }
            Some(text) => {
                let Some(conversation) = self
                    .calls
                    .get_mut(&call_key)
                    .and_then(|c| c.conversation.as_mut())
                else {
                    return self
                        .pending
                        .push_back((call_key, Event::BotReply(BotReply::CannotAnswer)));
                };
                conversation.on_utterance(&text, paused)
            }
        };
        self.bot_step(call_key, step);
    }

    /// Carries out one step of the conversation.
    fn bot_step(&mut self, call_key: u64, step: Step) {
        let reply = match step {
            Step::Say { text, language } => {
                self.record(
                    call_key,
                    "bot_said",
                    fields([("text", text.clone().into())]),
                );
                if let Some(call) = self.calls.get_mut(&call_key) {
                    call.bot_language = language;
                }
                BotReply::Say(text)
            }
            Step::Play(prompt) => match prompt {
                Prompt::Say { text, language } => {
                    if let Some(call) = self.calls.get_mut(&call_key) {
                        call.bot_language = language;
                    }
                    BotReply::Say(text)
                }
                prompt @ Prompt::Play { .. } => BotReply::Play(prompt),
            },
            Step::AskBot(request) => {
                let config = self
                    .calls
                    .get(&call_key)
                    .and_then(|c| c.conversation.as_ref())
                    .map(|c| (c.config().endpoint.clone(), c.config().timeout_ms));
                let Some((Some(endpoint), timeout)) = config else {
                    return self.bot_step(
                        call_key,
                        Step::CannotTakeCall {
                            why: "the customer agent has no endpoint".into(),
                        },
                    );
                };
                let body = serde_json::to_string(&request).unwrap_or_default();
                self.services.ask_bot(
                    call_key,
                    endpoint,
                    body,
                    Some(Duration::from_millis(timeout)),
                );
                return;
            }
            Step::Listen => BotReply::Listen,
            Step::Handoff { reason } => {
                self.handoff(call_key, &reason);
                BotReply::Handoff
            }
            Step::CannotTakeCall { why } => {
                tracing::warn!(call = call_key, %why, "a customer agent cannot take a call");
                self.record(call_key, "bot_unavailable", fields([("why", why.into())]));
                BotReply::CannotAnswer
            }
            Step::Done => BotReply::Done,
        };
        if !matches!(
            reply,
            BotReply::Say(_) | BotReply::Play(_) | BotReply::Listen
        ) && let Some(call) = self.calls.get(&call_key)
        {
            let _ = call.media.try_send(MediaCommand::StopListening);
        }
        self.pending.push_back((call_key, Event::BotReply(reply)));
    }

    fn play_prompt(&mut self, call_key: u64, prompt: &Prompt) {
        let Some(call) = self.calls.get_mut(&call_key) else {
            return;
        };
        if let Some(frames) = self.prompts.get(prompt, &self.media_root, call.law) {
            let _ = call.media.try_send(MediaCommand::Play { frames });
            call.playing = true;
        }
    }

    /// A handoff: the message for the caller (is anyone of the handoff's
    /// teams available?), and a ticket when the handoff is asynchronous or
    /// nobody can take it.
    fn handoff(&mut self, call_key: u64, why: &dialect_bot::Reason) {
        let reason = why.to_string();
        let reason = reason.as_str();
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        let Some(conversation) = call.conversation.as_ref() else {
            return;
        };
        let rules = conversation.config().handoff.clone();
        let transcript: Vec<String> = conversation
            .transcript()
            .iter()
            .map(|(who, text)| format!("{who:?}: {text}").to_lowercase())
            .collect();
        let facts = TicketFacts::of(conversation, "voice", &call.number, why.code());
        let campaign = call.campaign.clone();
        let number = call.number.clone();
        let teams = &self.directory.teams;
        let members = |team: &str| -> Vec<String> { teams.get(team).cloned().unwrap_or_default() };
        let acd = &self.acd;
        let decided = self
            .bots
            .router
            .handoff(&rules, &facts, &members, &|agent| {
                matches!(acd.state(short(agent)), Some(State::Available { .. }))
            });
        let assignment = &decided.assignment;
        let mut extra = fields([
            ("reason", reason.into()),
            ("mode", format!("{:?}", rules.mode).to_lowercase().into()),
            ("team", assignment.team.clone().unwrap_or_default().into()),
            ("available", decided.available.into()),
        ]);
        if let Some(owner) = &assignment.owner {
            extra.insert("owner".into(), owner.clone().into());
        }
        for warning in &assignment.warnings {
            self.record(
                call_key,
                "handoff_rule_failed",
                fields([("warning", warning.clone().into())]),
            );
        }
        self.record(call_key, "handoff", extra);
        if decided.ticket {
            let ticket = NewTicket {
                channel: "voice".into(),
                campaign,
                customer: number,
                reason: reason.to_string(),
                transcript,
                team: assignment.team.clone(),
                owner: assignment.owner.clone(),
            };
            if let Some(store) = &self.store {
                match store.open_ticket(&ticket, self.clock.now()) {
                    Ok(t) => {
                        self.record(call_key, "ticket_opened", fields([("ticket", t.id.into())]));
                        self.webhook(
                            call_key,
                            "ticket_changed",
                            serde_json::json!({
                                "ticket": t.id,
                                "status": t.status,
                                "team": t.team,
                                "owner": t.owner,
                            }),
                        );
                    }
                    Err(e) => self.record(
                        call_key,
                        "ticket_failed",
                        fields([("error", e.to_string().into())]),
                    ),
                }
            }
        }
        if let Some(message) = &decided.message {
            self.play_prompt(call_key, message);
        }
    }

    /// The leg heard an utterance: to speech-to-text.
    pub(super) fn heard_speech(&mut self, call_key: u64, samples: Vec<i16>) {
        let Some(call) = self.calls.get(&call_key) else {
            return;
        };
        if call.conversation.as_ref().is_none_or(|c| c.is_over()) {
            return;
        }
        let language = call.bot_language.clone();
        self.services
            .hear(call_key, samples, format!("call-{call_key}"), language);
    }

    /// A service answered.
    pub(super) async fn on_service(&mut self, result: ServiceResult, now: Instant) {
        match result {
            ServiceResult::Heard { call, result } => match result {
                Ok(text) if !text.trim().is_empty() => {
                    self.record(call, "heard", fields([("text", text.clone().into())]));
                    if let Some(id) = self.calls.get(&call).and_then(|c| c.engine) {
                        let _ = self.engine.handle_event(
                            id,
                            Event::Utterance(text),
                            self.clock.at(now),
                        );
                    }
                }
                Ok(_) => {}
                Err(error) => self.record(call, "stt_failed", fields([("error", error.into())])),
            },
            ServiceResult::Spoken { call, result } => match result {
                Ok(frames) => {
                    if let Some(c) = self.calls.get_mut(&call) {
                        let _ = c.media.try_send(MediaCommand::Play { frames });
                        c.playing = true;
                    }
                }
                Err(error) => {
                    self.record(call, "tts_failed", fields([("error", error.into())]));
                    self.pending.push_back((call, Event::PromptFinished));
                }
            },
            ServiceResult::Bot { call, result } => {
                let response = match result {
                    Ok((status, body)) => parse_response(status, &body),
                    Err(why) => Err(dialect_bot::ProtocolError::Unreachable(why)),
                };
                if call & super::chat::CHAT_KEY != 0 {
                    return self.chat_bot_answer(call & !super::chat::CHAT_KEY, response, now);
                }
                let step = self
                    .calls
                    .get_mut(&call)
                    .and_then(|c| c.conversation.as_mut())
                    .map(|c| c.on_bot_response(response));
                if let Some(step) = step {
                    self.bot_step(call, step);
                }
            }
        }
        self.pump(now).await;
    }
}
