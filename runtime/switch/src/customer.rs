//! The customer agent on calls (SPEC 5.6): the engine asks for bot turns,
//! the switch answers them with the `dialect-bot` conversation (the
//! embedded knowledge-base bot, or an external bot the world asks over the
//! bot protocol) and carries out handoffs: routed by the handoff's rules,
//! the message (is anyone it goes to available in the ACD?), a ticket when
//! the handoff is asynchronous or nobody was assigned, then the `handoff`
//! exit. Anything that fails is the documented fallback: the customer
//! agent cannot take the call (`cannot_answer`).

use crate::{Action, CallKey, Store, Switch, fields};
use dialect_acd::State;
use dialect_acd::directory::short;
use dialect_bot::{
    BotResponse, Conversation, HandoffRules, ProtocolError, Reason, Step, TicketFacts,
};
use dialect_bytecode::Prompt;
use dialect_engine::{BotReply, Event};
use dialect_store::NewTicket;
use jiff::Timestamp;

impl Switch {
    /// The engine asks for the customer agent's next turn: the first turn
    /// opens a conversation with `bot` of the call's campaign, an utterance
    /// goes to the open one.
    pub(crate) fn bot_turn(
        &mut self,
        key: CallKey,
        bot: &str,
        utterance: Option<String>,
        store: &dyn Store,
        now: Timestamp,
    ) {
        let paused = self.bots.paused.contains(short(bot));
        let step = match utterance {
            None => {
                let Some(call) = self.calls.get(&key) else {
                    return;
                };
                let conversation = self.bots.conversation(
                    &call.campaign,
                    bot,
                    call.channel,
                    format!("call-{key}"),
                    &call.caller,
                );
                let Some(mut conversation) = conversation else {
                    let why = format!("campaign {} has no customer agent {bot}", call.campaign);
                    return self.cannot_answer(key, why);
                };
                let broken = conversation.config().knowledge.as_ref().and_then(|f| {
                    self.bots
                        .broken_file(&call.campaign, f)
                        .map(|b| format!("knowledge base {f}: {}", b.why))
                });
                if let Some(why) = broken {
                    return self.cannot_answer(key, why);
                }
                let step = conversation.first_turn();
                if let Some(call) = self.calls.get_mut(&key) {
                    call.conversation = Some(conversation);
                }
                self.actions.push_back(Action::Listen { call: key });
                self.log(key, "bot_started", fields([("bot", bot.into())]));
                step
            }
            Some(text) => {
                let Some(conversation) = self
                    .calls
                    .get_mut(&key)
                    .and_then(|c| c.conversation.as_mut())
                else {
                    return self.reply(key, BotReply::CannotAnswer);
                };
                conversation.on_utterance(&text, paused)
            }
        };
        self.bot_step(key, step, store, now);
    }

    fn cannot_answer(&mut self, key: CallKey, why: String) {
        self.log(key, "bot_unavailable", fields([("why", why.into())]));
        self.reply(key, BotReply::CannotAnswer);
    }

    fn reply(&mut self, key: CallKey, reply: BotReply) {
        self.actions.push_back(Action::Decided {
            call: key,
            event: Event::BotReply(reply.clone()),
        });
        if !matches!(
            reply,
            BotReply::Say(_) | BotReply::Play(_) | BotReply::Listen
        ) {
            self.actions.push_back(Action::StopListening { call: key });
        }
        self.feedback.push_back((key, Event::BotReply(reply)));
    }

    /// Carries out one step of the conversation: a reply for the engine,
    /// or a request to the external bot.
    fn bot_step(&mut self, key: CallKey, step: Step, store: &dyn Store, now: Timestamp) {
        let reply = match step {
            Step::Say { text, language } | Step::Play(Prompt::Say { text, language }) => {
                self.log(key, "bot_said", fields([("text", text.clone().into())]));
                if let Some(call) = self.calls.get_mut(&key) {
                    call.bot_language = language;
                }
                BotReply::Say(text)
            }
            Step::Play(prompt) => BotReply::Play(prompt),
            Step::AskBot(request) => {
                if !self.ask_bot(key, request) {
                    let why = "the customer agent has no endpoint".to_string();
                    self.bot_step(key, Step::CannotTakeCall { why }, store, now);
                }
                return;
            }
            Step::Listen => BotReply::Listen,
            Step::Handoff { reason } => {
                self.handoff(key, reason, store, now);
                BotReply::Handoff
            }
            Step::CannotTakeCall { why } => {
                self.log(key, "bot_unavailable", fields([("why", why.into())]));
                BotReply::CannotAnswer
            }
            Step::Done => BotReply::Done,
        };
        self.reply(key, reply);
    }

    /// Sends a turn to the call's (or chat's) external bot; false when the
    /// bot has no endpoint.
    fn ask_bot(&mut self, key: CallKey, request: dialect_bot::BotRequest) -> bool {
        let Some(call) = self.calls.get_mut(&key) else {
            return true;
        };
        let config = call
            .conversation
            .as_ref()
            .map(|c| (c.config().endpoint.clone(), c.config().timeout_ms));
        let Some((Some(endpoint), timeout_ms)) = config else {
            return false;
        };
        call.bot_requests += 1;
        let what = match (&request.utterance, &request.keys) {
            (Some(u), _) => format!("turn {} {u:?}", request.turn),
            (None, Some(k)) => format!("turn {} keys {k}", request.turn),
            (None, None) => format!("turn {} (opening)", request.turn),
        };
        self.log(
            key,
            "bot_asked",
            fields([("endpoint", endpoint.clone().into()), ("turn", what.into())]),
        );
        self.actions.push_back(Action::AskBot {
            call: key,
            endpoint,
            request,
            timeout_ms,
        });
        true
    }

    /// A chat opens with the customer agent `bot` (qualified or short
    /// name, any campaign's): the conversation's first turn. False when
    /// there is no such bot.
    pub fn chat_open(
        &mut self,
        key: CallKey,
        bot: &str,
        id: String,
        customer: &str,
        now: Timestamp,
    ) -> bool {
        self.now = self.now.max(now);
        let Some(mut conversation) = self.bots.chat_conversation(bot, id, customer) else {
            return false;
        };
        let campaign = conversation.config().name.clone();
        self.open(key, campaign, customer);
        let step = conversation.first_turn();
        if let Some(call) = self.calls.get_mut(&key) {
            call.channel = dialect_bot::Channel::Chat;
            call.conversation = Some(conversation);
        }
        self.chat_step(key, step);
        true
    }

    /// The chat's customer typed `text` (while the customer agent has it).
    pub fn chat_said(&mut self, key: CallKey, text: &str, now: Timestamp) {
        self.now = self.now.max(now);
        let Some(conversation) = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.conversation.as_mut())
        else {
            return;
        };
        let paused = self
            .bots
            .paused
            .contains(short(&conversation.config().name));
        let step = conversation.on_utterance(text, paused);
        self.chat_step(key, step);
    }

    /// The conversation of a call or chat, while its customer agent has it.
    pub fn conversation(&self, key: CallKey) -> Option<&Conversation> {
        self.calls.get(&key)?.conversation.as_ref()
    }

    /// Whether the key is a chat (a conversation without a flow).
    fn is_chat(&self, key: CallKey) -> bool {
        self.calls
            .get(&key)
            .is_some_and(|c| c.engine.is_none() && c.channel == dialect_bot::Channel::Chat)
    }

    /// One step of a chat's conversation: what the customer agent says goes
    /// to the customer; a handoff (or a customer agent that cannot take
    /// the chat) gives it to people.
    fn chat_step(&mut self, key: CallKey, step: Step) {
        match step {
            Step::Say { text, .. } | Step::Play(Prompt::Say { text, .. }) => {
                self.log(key, "bot_said", fields([("text", text.clone().into())]));
                self.actions
                    .push_back(Action::ChatMessage { chat: key, text });
            }
            Step::Play(Prompt::Play { .. }) | Step::Listen => {}
            Step::AskBot(request) => {
                if !self.ask_bot(key, request) {
                    let why = "the customer agent has no endpoint".to_string();
                    self.chat_step(key, Step::CannotTakeCall { why });
                }
            }
            Step::Handoff { reason } => self.actions.push_back(Action::ChatHandoff {
                chat: key,
                code: reason.code().to_string(),
                reason: reason.to_string(),
            }),
            Step::CannotTakeCall { why } => {
                self.log(
                    key,
                    "bot_unavailable",
                    fields([("why", why.clone().into())]),
                );
                self.actions.push_back(Action::ChatHandoff {
                    chat: key,
                    code: "cannot_take".into(),
                    reason: format!("the customer agent cannot take the chat: {why}"),
                });
            }
            Step::Done => self.actions.push_back(Action::ChatDone { chat: key }),
        }
    }

    /// The external bot answered request number `request` of the call (the
    /// world counts them from 1, in the order of [`Action::AskBot`]), for
    /// the conversation's turn `turn`. An answer to an older request, or
    /// one that comes when the call has left the bot, is dropped (logged).
    pub fn bot_answered(
        &mut self,
        key: CallKey,
        request: u64,
        turn: u32,
        result: Result<BotResponse, ProtocolError>,
        now: Timestamp,
        store: &dyn Store,
    ) {
        if !self.awaits_bot_answer(key, request, turn) {
            self.log(key, "bot_answer_dropped", fields([("turn", turn.into())]));
            return;
        }
        let step = self
            .calls
            .get_mut(&key)
            .and_then(|c| c.conversation.as_mut())
            .map(|c| c.on_bot_response(result));
        match step {
            Some(step) if self.is_chat(key) => self.chat_step(key, step),
            Some(step) => self.bot_step(key, step, store, now),
            None => {}
        }
        self.drain(now, store);
    }

    /// Whether the call waits for the answer to request number `request`
    /// (turn `turn`): it is still at the `bot` block that asked, and no
    /// later request went out.
    pub fn awaits_bot_answer(&self, key: CallKey, request: u64, turn: u32) -> bool {
        self.calls.get(&key).is_some_and(|call| {
            // A call still at the `bot` block that asked; a chat has no
            // flow, only its conversation.
            let at_bot = match call.engine {
                Some(id) => self
                    .engine
                    .node_of(id)
                    .is_some_and(|node| Some(node) == call.bot_node),
                None => call.channel == dialect_bot::Channel::Chat,
            };
            at_bot
                && call.bot_requests == request
                && call
                    .conversation
                    .as_ref()
                    .is_some_and(|c| c.awaiting() == Some(turn))
        })
    }

    /// The number of the last request sent to the call's external bot.
    pub fn bot_requests(&self, key: CallKey) -> u64 {
        self.calls.get(&key).map_or(0, |c| c.bot_requests)
    }

    /// A handoff decision for `conversation` (of a call or a chat): routed
    /// by `rules` with the ACD's view of who is available.
    pub fn route_handoff(
        &mut self,
        rules: &HandoffRules,
        facts: &TicketFacts,
    ) -> dialect_bot::Handoff {
        let teams = &self.directory.teams;
        let members = |team: &str| -> Vec<String> { teams.get(team).cloned().unwrap_or_default() };
        let acd = &self.acd;
        self.router.handoff(rules, facts, &members, &|agent| {
            matches!(acd.state(short(agent)), Some(State::Available { .. }))
        })
    }

    /// Routes a ticket (a chat's handoff) by `rules`, with the teams of
    /// the installed version; the owner rotation is the one calls use.
    pub fn route_ticket(
        &mut self,
        rules: &HandoffRules,
        facts: &TicketFacts,
    ) -> dialect_bot::Assignment {
        let teams = &self.directory.teams;
        let members = |team: &str| -> Vec<String> { teams.get(team).cloned().unwrap_or_default() };
        self.router.route(rules, facts, &members)
    }

    /// A call's handoff: routed, the message played, a ticket opened when
    /// the handoff is asynchronous or nobody was assigned.
    fn handoff(&mut self, key: CallKey, reason: Reason, store: &dyn Store, now: Timestamp) {
        let Some(call) = self.calls.get(&key) else {
            return;
        };
        let Some(conversation) = call.conversation.as_ref() else {
            return;
        };
        let rules = conversation.config().handoff.clone();
        let channel = conversation.channel();
        let facts = TicketFacts::of(conversation, channel.as_str(), &call.caller, reason.code());
        let transcript = transcript(conversation);
        let (campaign, customer) = (call.campaign.clone(), call.caller.clone());
        let decided = self.route_handoff(&rules, &facts);
        let assignment = &decided.assignment;
        let mut extra = fields([
            ("reason", reason.to_string().into()),
            ("code", reason.code().into()),
            ("mode", format!("{:?}", rules.mode).to_lowercase().into()),
            ("team", assignment.team.clone().unwrap_or_default().into()),
            ("users", assignment.users.join(",").into()),
            ("available", decided.available.into()),
        ]);
        if let Some(owner) = &assignment.owner {
            extra.insert("owner".into(), owner.clone().into());
        }
        let warnings = assignment.warnings.clone();
        self.log(key, "handoff", extra);
        self.actions.push_back(Action::Handoff {
            call: key,
            reason: reason.clone(),
            mode: rules.mode,
            decided: decided.clone(),
        });
        for warning in warnings {
            self.log(
                key,
                "handoff_rule_failed",
                fields([("warning", warning.into())]),
            );
        }
        if decided.ticket {
            let ticket = NewTicket {
                channel: channel.as_str().into(),
                campaign,
                customer,
                reason: reason.to_string(),
                transcript,
                team: decided.assignment.team.clone(),
                owner: decided.assignment.owner.clone(),
            };
            match store.open_ticket(&ticket, now) {
                Ok(ticket) => {
                    self.log(key, "ticket_opened", fields([("ticket", ticket.id.into())]));
                    self.actions
                        .push_back(Action::TicketOpened { call: key, ticket });
                }
                Err(error) => self.log(
                    key,
                    "ticket_failed",
                    fields([("error", error.to_string().into())]),
                ),
            }
        }
        if let Some(prompt) = decided.message {
            self.actions
                .push_back(Action::Announce { call: key, prompt });
        }
    }
}

/// A conversation's transcript as a ticket keeps it.
fn transcript(conversation: &Conversation) -> Vec<String> {
    conversation
        .transcript()
        .iter()
        .map(|(who, text)| format!("{who:?}: {text}").to_lowercase())
        .collect()
}
