//! The chat channel (SPEC 5.6): the same customer agents and handoff rules
//! as on the phone, in text over WebSockets (`crate::api`). A customer
//! converses with a customer agent; a live handoff gives the chat to an
//! agent of the routed team (the owner first) who has their chat desk open;
//! an asynchronous handoff, or a live one nobody can take, opens a ticket;
//! the handoff's `unassigned` setting keeps an unassigned chat open
//! (waiting for an agent to open their desk) or closes it.
//!
//! Messages are JSON: to customers `{"type": "message", "from": "bot" |
//! "agent" | "system", "text": ...}`, `{"type": "handoff", ...}`,
//! `{"type": "ticket", "id": ...}`, `{"type": "closed", "reason": ...}`;
//! to agents `{"type": "assigned", "chat", "customer", "reason",
//! "transcript"}`, `{"type": "message", "chat", "text"}`, `{"type":
//! "closed", "chat"}`.

use super::{Core, fields};
use crate::api::ChatEvent;
use dialect_acd::directory::short;
use dialect_bot::{Conversation, Mode, Speaker, Step, TicketFacts, Unassigned};
use dialect_bytecode::Prompt;
use dialect_store::NewTicket;
use serde_json::{Value, json};
use std::time::Instant;
use tokio::sync::mpsc;

/// Service results for chats carry this bit in their key (calls never
/// reach it).
pub(crate) const CHAT_KEY: u64 = 1 << 63;

/// One chat.
pub(crate) struct Chat {
    conversation: Conversation,
    customer: mpsc::Sender<String>,
    name: String,
    /// The agent it was handed to.
    agent: Option<String>,
    /// Handed off live, nobody could take it, kept open: the agents who
    /// may still take it.
    waiting_for: Vec<String>,
    reason: String,
}

fn said(text: &str, from: &str) -> String {
    json!({ "type": "message", "from": from, "text": text }).to_string()
}

fn prompt_text(prompt: &Option<Prompt>) -> Option<String> {
    match prompt {
        Some(Prompt::Say { text, .. }) => Some(text.clone()),
        _ => None,
    }
}

impl Core {
    fn chat_log(&self, chat: u64, event: &str, extra: serde_json::Map<String, Value>) {
        self.log
            .record(self.clock.now(), &format!("chat-{chat}"), event, extra);
    }

    /// A chat connection's event.
    pub(super) fn on_chat(&mut self, event: ChatEvent, now: Instant) {
        match event {
            ChatEvent::CustomerOpened {
                chat,
                bot,
                name,
                out,
            } => {
                let conversation =
                    self.switch
                        .bots()
                        .chat_conversation(&bot, format!("chat-{chat}"), &name);
                let Some(conversation) = conversation else {
                    let _ = out.try_send(
                        json!({ "type": "closed", "reason": format!("there is no customer agent `{bot}`") })
                            .to_string(),
                    );
                    return;
                };
                self.chat_log(
                    chat,
                    "chat_started",
                    fields([("bot", bot.into()), ("customer", name.clone().into())]),
                );
                self.chats.insert(
                    chat,
                    Chat {
                        conversation,
                        customer: out,
                        name,
                        agent: None,
                        waiting_for: Vec::new(),
                        reason: String::new(),
                    },
                );
                let step = self
                    .chats
                    .get_mut(&chat)
                    .map(|c| c.conversation.first_turn());
                if let Some(step) = step {
                    self.chat_step(chat, step, now);
                }
            }
            ChatEvent::CustomerSaid { chat, text } => {
                let paused = self.chats.get(&chat).is_some_and(|c| {
                    self.switch
                        .bots()
                        .paused
                        .contains(short(&c.conversation.config().name))
                });
                let Some(c) = self.chats.get_mut(&chat) else {
                    return;
                };
                if let Some(agent) = c.agent.clone() {
                    if let Some(desk) = self.chat_desks.get(&agent) {
                        let _ = desk.try_send(
                            json!({ "type": "message", "chat": chat, "from": "customer", "text": text })
                                .to_string(),
                        );
                    }
                    return;
                }
                if !c.waiting_for.is_empty() {
                    return;
                }
                let step = c.conversation.on_utterance(&text, paused);
                self.chat_step(chat, step, now);
            }
            ChatEvent::CustomerLeft { chat } => {
                if let Some(c) = self.chats.remove(&chat) {
                    if let Some(desk) = c.agent.as_ref().and_then(|a| self.chat_desks.get(a)) {
                        let _ =
                            desk.try_send(json!({ "type": "closed", "chat": chat }).to_string());
                    }
                    self.chat_log(chat, "chat_ended", fields([("by", "customer".into())]));
                }
            }
            ChatEvent::AgentOpened { agent, out } => {
                self.chat_desks.insert(agent.clone(), out);
                self.log_agent(&agent, "chat_desk_opened", serde_json::Map::new());
                let waiting: Vec<u64> = self
                    .chats
                    .iter()
                    .filter(|(_, c)| c.agent.is_none() && c.waiting_for.contains(&agent))
                    .map(|(id, _)| *id)
                    .collect();
                if let Some(chat) = waiting.into_iter().min() {
                    self.assign_chat(chat, &agent);
                }
            }
            ChatEvent::AgentSaid { agent, chat, text } => {
                let Some(c) = self.chats.get(&chat) else {
                    return;
                };
                if c.agent.as_deref() != Some(agent.as_str()) {
                    if let Some(desk) = self.chat_desks.get(&agent) {
                        let _ = desk.try_send(
                            json!({ "type": "error", "chat": chat, "error": format!("chat {chat} is not yours") })
                                .to_string(),
                        );
                    }
                    return;
                }
                let _ = c.customer.try_send(
                    json!({ "type": "message", "from": "agent", "agent": agent, "text": text })
                        .to_string(),
                );
            }
            ChatEvent::AgentClosed { agent, chat } => {
                if self
                    .chats
                    .get(&chat)
                    .is_some_and(|c| c.agent.as_deref() == Some(agent.as_str()))
                    && let Some(c) = self.chats.remove(&chat)
                {
                    let _ = c.customer.try_send(
                        json!({ "type": "closed", "reason": "the agent closed the chat" })
                            .to_string(),
                    );
                    self.chat_log(chat, "chat_ended", fields([("by", agent.into())]));
                }
            }
            ChatEvent::AgentLeft { agent } => {
                self.chat_desks.remove(&agent);
                for (chat, c) in self.chats.iter_mut() {
                    if c.agent.as_deref() == Some(agent.as_str()) {
                        c.agent = None;
                        c.waiting_for = vec![agent.clone()];
                        let _ = c
                            .customer
                            .try_send(said("The agent was disconnected; please wait.", "system"));
                        let _ = chat;
                    }
                }
            }
        }
    }

    /// Carries out one step of a chat's conversation.
    fn chat_step(&mut self, chat: u64, step: Step, now: Instant) {
        let Some(c) = self.chats.get(&chat) else {
            return;
        };
        match step {
            Step::Say { text, .. } | Step::Play(Prompt::Say { text, .. }) => {
                let _ = c.customer.try_send(said(&text, "bot"));
            }
            Step::Play(Prompt::Play { .. }) | Step::Listen => {}
            Step::AskBot(request) => {
                let endpoint = c.conversation.config().endpoint.clone();
                let timeout = c.conversation.config().timeout_ms;
                match endpoint {
                    Some(endpoint) => self.services.ask_bot(
                        chat | CHAT_KEY,
                        (0, request.turn),
                        endpoint,
                        serde_json::to_string(&request).unwrap_or_default(),
                        Some(std::time::Duration::from_millis(timeout)),
                    ),
                    None => self.chat_handoff(
                        chat,
                        "cannot_take",
                        "the customer agent has no endpoint",
                        now,
                    ),
                }
            }
            Step::Handoff { reason } => {
                self.chat_handoff(chat, reason.code(), &reason.to_string(), now)
            }
            // The AI cannot take the chat: to people, as a handoff.
            Step::CannotTakeCall { why } => {
                self.chat_log(
                    chat,
                    "bot_unavailable",
                    fields([("why", why.clone().into())]),
                );
                self.chat_handoff(
                    chat,
                    "cannot_take",
                    &format!("the customer agent cannot take the chat: {why}"),
                    now,
                );
            }
            Step::Done => {
                if let Some(c) = self.chats.remove(&chat) {
                    let _ = c
                        .customer
                        .try_send(json!({ "type": "closed", "reason": "done" }).to_string());
                    self.chat_log(chat, "chat_ended", fields([("by", "bot".into())]));
                }
            }
        }
    }

    /// An external bot answered a chat's turn.
    pub(super) fn chat_bot_answer(
        &mut self,
        chat: u64,
        response: Result<dialect_bot::BotResponse, dialect_bot::ProtocolError>,
        now: Instant,
    ) {
        let step = self
            .chats
            .get_mut(&chat)
            .map(|c| c.conversation.on_bot_response(response));
        if let Some(step) = step {
            self.chat_step(chat, step, now);
        }
    }

    /// A chat's handoff: routed by the handoff's rules; live to an agent
    /// with an open desk, else (or when asynchronous) a ticket.
    /// `code` is the trigger's code (what routing rules read as `reason`),
    /// `reason` its words.
    fn chat_handoff(&mut self, chat: u64, code: &str, reason: &str, now: Instant) {
        let _ = now;
        let Some(c) = self.chats.get(&chat) else {
            return;
        };
        let rules = c.conversation.config().handoff.clone();
        let transcript: Vec<String> = c
            .conversation
            .transcript()
            .iter()
            .map(|(who, text)| match who {
                Speaker::Caller => format!("customer: {text}"),
                Speaker::Bot => format!("bot: {text}"),
            })
            .collect();
        let facts = TicketFacts::of(&c.conversation, "chat", &c.name, code);
        let assignment = self.switch.route_ticket(&rules, &facts);
        let teams = &self.switch.directory().teams;
        let members = |team: &str| -> Vec<String> { teams.get(team).cloned().unwrap_or_default() };
        let mut candidates: Vec<String> = assignment.owner.iter().cloned().collect();
        for agent in assignment
            .team
            .iter()
            .flat_map(|t| members(t))
            .chain(assignment.users.iter().map(|u| short(u).to_string()))
        {
            if !candidates.contains(&agent) {
                candidates.push(agent);
            }
        }
        let mut extra = fields([
            ("reason", reason.into()),
            ("mode", format!("{:?}", rules.mode).to_lowercase().into()),
            ("team", assignment.team.clone().unwrap_or_default().into()),
        ]);
        if let Some(owner) = &assignment.owner {
            extra.insert("owner".into(), owner.clone().into());
        }
        self.chat_log(chat, "handoff", extra);
        let taker = candidates
            .iter()
            .find(|a| self.chat_desks.contains_key(*a))
            .cloned();
        if let Some(c) = self.chats.get_mut(&chat) {
            c.reason = reason.to_string();
        }
        if rules.mode == Mode::Live
            && let Some(agent) = taker
        {
            if let Some(text) = prompt_text(&rules.message_available)
                && let Some(c) = self.chats.get(&chat)
            {
                let _ = c.customer.try_send(said(&text, "system"));
            }
            return self.assign_chat(chat, &agent);
        }
        // Asynchronous, or nobody can take it now: a ticket, so nothing is
        // lost.
        let Some(c) = self.chats.get(&chat) else {
            return;
        };
        let ticket = NewTicket {
            channel: "chat".into(),
            campaign: c.conversation.config().name.clone(),
            customer: c.name.clone(),
            reason: reason.to_string(),
            transcript,
            team: assignment.team.clone(),
            owner: assignment.owner.clone(),
        };
        let opened = self
            .store
            .as_ref()
            .map(|s| s.open_ticket(&ticket, self.clock.now()));
        let id = match opened {
            Some(Ok(t)) => {
                self.chat_log(chat, "ticket_opened", fields([("ticket", t.id.into())]));
                self.webhook_for(
                    &t.campaign,
                    &format!("chat-{chat}"),
                    "ticket_changed",
                    json!({
                        "ticket": t.id,
                        "status": t.status,
                        "team": t.team,
                        "owner": t.owner,
                        "channel": "chat",
                    }),
                );
                Some(t.id)
            }
            Some(Err(e)) => {
                self.chat_log(
                    chat,
                    "ticket_failed",
                    fields([("error", e.to_string().into())]),
                );
                None
            }
            None => None,
        };
        let message = if rules.mode == Mode::Async {
            prompt_text(&rules.message_unavailable)
                .or_else(|| prompt_text(&rules.message_unassigned))
        } else {
            prompt_text(&rules.message_unassigned)
                .or_else(|| prompt_text(&rules.message_unavailable))
        };
        let keep_open = rules.mode == Mode::Live && rules.unassigned == Unassigned::KeepOpen;
        let Some(c) = self.chats.get_mut(&chat) else {
            return;
        };
        if let Some(text) = message {
            let _ = c.customer.try_send(said(&text, "system"));
        }
        if let Some(id) = id {
            let _ = c
                .customer
                .try_send(json!({ "type": "ticket", "id": id }).to_string());
        }
        if keep_open {
            c.waiting_for = candidates;
            let _ = c
                .customer
                .try_send(json!({ "type": "waiting" }).to_string());
            return;
        }
        if let Some(c) = self.chats.remove(&chat) {
            let _ = c.customer.try_send(
                json!({ "type": "closed", "reason": "handed off to a ticket" }).to_string(),
            );
            self.chat_log(chat, "chat_ended", fields([("by", "handoff".into())]));
        }
    }

    /// Gives a chat to an agent: the transcript to them, their name to the
    /// customer.
    fn assign_chat(&mut self, chat: u64, agent: &str) {
        let Some(desk) = self.chat_desks.get(agent).cloned() else {
            return;
        };
        let Some(c) = self.chats.get_mut(&chat) else {
            return;
        };
        c.agent = Some(agent.to_string());
        c.waiting_for.clear();
        let transcript: Vec<Value> = c
            .conversation
            .transcript()
            .iter()
            .map(|(who, text)| {
                json!({ "from": if matches!(who, Speaker::Caller) { "customer" } else { "bot" }, "text": text })
            })
            .collect();
        let _ = desk.try_send(
            json!({
                "type": "assigned",
                "chat": chat,
                "customer": c.name,
                "reason": c.reason,
                "transcript": transcript,
            })
            .to_string(),
        );
        let _ = c
            .customer
            .try_send(json!({ "type": "handoff", "agent": agent }).to_string());
        self.log_agent(
            agent,
            "chat_assigned",
            fields([("chat", format!("chat-{chat}").into())]),
        );
    }
}
