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
use dialect_bot::{Mode, Speaker, TicketFacts, Unassigned};
use dialect_bytecode::Prompt;
use dialect_store::NewTicket;
use serde_json::{Value, json};
use std::time::Instant;
use tokio::sync::mpsc;

/// Service results for chats carry this bit in their key (calls never
/// reach it).
pub(crate) const CHAT_KEY: u64 = 1 << 63;

/// One chat, as the world sees it (its conversation is the switch's, under
/// the chat's key with [`CHAT_KEY`]).
pub(crate) struct Chat {
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
    pub(super) fn chat_log(&self, chat: u64, event: &str, extra: serde_json::Map<String, Value>) {
        self.log
            .record(self.wall(), &format!("chat-{chat}"), event, extra);
    }

    /// A chat connection's event.
    pub(super) fn on_chat(&mut self, event: ChatEvent, now: Instant) {
        self.now = now;
        match event {
            ChatEvent::CustomerOpened {
                chat,
                bot,
                name,
                out,
            } => {
                self.chats.insert(
                    chat,
                    Chat {
                        customer: out,
                        name: name.clone(),
                        agent: None,
                        waiting_for: Vec::new(),
                        reason: String::new(),
                    },
                );
                let at = self.clock.at(now);
                let id = format!("chat-{chat}");
                if !self.switch.chat_open(chat | CHAT_KEY, &bot, id, &name, at) {
                    if let Some(c) = self.chats.remove(&chat) {
                        let _ = c.customer.try_send(
                            json!({ "type": "closed", "reason": format!("there is no customer agent `{bot}`") })
                                .to_string(),
                        );
                    }
                    return;
                }
                self.chat_log(
                    chat,
                    "chat_started",
                    fields([("bot", bot.into()), ("customer", name.into())]),
                );
            }
            ChatEvent::CustomerSaid { chat, text } => {
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
                self.switch
                    .chat_said(chat | CHAT_KEY, &text, self.clock.at(now));
            }
            ChatEvent::CustomerLeft { chat } => {
                self.switch.release(chat | CHAT_KEY, self.clock.at(now));
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
                // Every chat waiting for this agent, oldest first (those
                // they had before a disconnection, those handed off while
                // nobody was at a desk).
                let mut waiting: Vec<u64> = self
                    .chats
                    .iter()
                    .filter(|(_, c)| c.agent.is_none() && c.waiting_for.contains(&agent))
                    .map(|(id, _)| *id)
                    .collect();
                waiting.sort_unstable();
                for chat in waiting {
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
                    self.switch.release(chat | CHAT_KEY, self.clock.at(now));
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

    /// What the customer agent said, to the chat's customer.
    pub(super) fn chat_message(&mut self, chat: u64, text: &str) {
        if let Some(c) = self.chats.get(&chat) {
            let _ = c.customer.try_send(said(text, "bot"));
        }
    }

    /// The customer agent is done with the chat: it closes.
    pub(super) fn chat_done(&mut self, chat: u64, now: Instant) {
        self.switch.release(chat | CHAT_KEY, self.clock.at(now));
        if let Some(c) = self.chats.remove(&chat) {
            let _ = c
                .customer
                .try_send(json!({ "type": "closed", "reason": "done" }).to_string());
            self.chat_log(chat, "chat_ended", fields([("by", "bot".into())]));
        }
    }

    /// A chat's handoff: routed by the handoff's rules; live to an agent
    /// with an open desk, else (or when asynchronous) a ticket.
    /// `code` is the trigger's code (what routing rules read as `reason`),
    /// `reason` its words.
    pub(super) fn chat_handoff(&mut self, chat: u64, code: &str, reason: &str, now: Instant) {
        let Some(c) = self.chats.get(&chat) else {
            return;
        };
        let Some(conversation) = self.switch.conversation(chat | CHAT_KEY) else {
            return;
        };
        let rules = conversation.config().handoff.clone();
        let bot = conversation.config().name.clone();
        let transcript: Vec<String> = conversation
            .transcript()
            .iter()
            .map(|(who, text)| match who {
                Speaker::Caller => format!("customer: {text}"),
                Speaker::Bot => format!("bot: {text}"),
            })
            .collect();
        let facts = TicketFacts::of(conversation, "chat", &c.name, code);
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
            campaign: bot,
            customer: c.name.clone(),
            reason: reason.to_string(),
            transcript,
            team: assignment.team.clone(),
            owner: assignment.owner.clone(),
        };
        let opened = self
            .store
            .as_ref()
            .map(|s| s.open_ticket(&ticket, self.wall()));
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
            self.switch.release(chat | CHAT_KEY, self.clock.at(now));
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
        let transcript: Vec<Value> = self
            .switch
            .conversation(chat | CHAT_KEY)
            .map(|conversation| conversation.transcript())
            .unwrap_or_default()
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
