//! Dialogs (RFC 3261 section 12): the state that lets a call's later
//! requests (BYE, re-INVITE, the ACK for a 2xx) be built and matched.
//!
//! A [`Dialog`] is created as UAS from an incoming INVITE and our To tag
//! ([`Dialog::uas`]), or as UAC from the INVITE we sent to an agent or the
//! trunk and the response that carried the remote tag ([`Dialog::uac`]).
//! [`Dialogs`] is the table that matches incoming requests to them; a request
//! with a To tag that matches none is answered 481.

use std::collections::HashMap;

use crate::header::{NameAddr, SipUri};
use crate::message::{self, BuildError, Message, Method, RequestParts, Transport};

/// What identifies a dialog at our end (RFC 3261 12).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag.
    pub remote_tag: String,
}

/// Which side of the INVITE that created the dialog we were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// We received the INVITE (a caller's call).
    Uas,
    /// We sent the INVITE (to an agent or the trunk).
    Uac,
}

/// Where our in-dialog requests say they come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Local {
    /// Our `Contact` URI (the remote target the peer uses).
    pub contact: String,
    /// Our `Via` sent-by (`host:port`).
    pub sent_by: String,
    /// The transport of our `Via`.
    pub transport: Transport,
}

/// One dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    id: DialogId,
    role: Role,
    local_uri: String,
    remote_uri: String,
    local_seq: u32,
    remote_seq: Option<u32>,
    remote_target: String,
    route_set: Vec<String>,
    local: Local,
    confirmed: bool,
}

/// Why an in-dialog request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InDialogError {
    /// Its CSeq is lower than one seen before: answer 500 (RFC 3261 12.2.2).
    #[error("CSeq {got} is lower than the last one, {last}")]
    OutOfOrder {
        /// The request's CSeq.
        got: u32,
        /// The highest CSeq seen.
        last: u32,
    },
    /// It has no usable CSeq.
    #[error("no CSeq")]
    NoCSeq,
}

/// How an incoming request relates to the dialogs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// It belongs to this dialog.
    Dialog(DialogId),
    /// It has no To tag: it starts something new (INVITE, OPTIONS, REGISTER).
    OutOfDialog,
    /// It has a To tag but no dialog has it: answer 481 (RFC 3261 12.2.2),
    /// except to an ACK, which is never answered.
    Unknown,
}

/// The dialogs of the server, by id.
#[derive(Debug, Default)]
pub struct Dialogs {
    map: HashMap<DialogId, Dialog>,
}

impl Dialog {
    /// The dialog an incoming INVITE creates when we answer it with
    /// `local_tag` in a 1xx (early) or 2xx (RFC 3261 12.1.1). `None` when the
    /// INVITE lacks what a dialog needs (From tag, Contact, CSeq).
    pub fn uas(invite: &Message, local_tag: &str, local: Local) -> Option<Dialog> {
        let from = invite.from()?;
        let to = invite.to()?;
        Some(Dialog {
            id: DialogId {
                call_id: invite.call_id()?.to_owned(),
                local_tag: local_tag.to_owned(),
                remote_tag: from.tag()?.to_owned(),
            },
            role: Role::Uas,
            local_uri: without_tag(&to),
            remote_uri: without_tag(&from),
            local_seq: 0,
            remote_seq: Some(invite.cseq()?.seq),
            remote_target: invite.contact_uri()?,
            route_set: invite
                .name_addrs("Record-Route")
                .iter()
                .map(ToString::to_string)
                .collect(),
            local,
            confirmed: false,
        })
    }

    /// The dialog a response with a To tag to our INVITE creates (RFC 3261
    /// 12.1.2): early for a 1xx, confirmed for a 2xx. The route set is the
    /// response's Record-Route reversed.
    pub fn uac(invite: &Message, response: &Message, local: Local) -> Option<Dialog> {
        let from = invite.from()?;
        let to = response.to()?;
        let mut route_set: Vec<String> = response
            .name_addrs("Record-Route")
            .iter()
            .map(ToString::to_string)
            .collect();
        route_set.reverse();
        Some(Dialog {
            id: DialogId {
                call_id: invite.call_id()?.to_owned(),
                local_tag: from.tag()?.to_owned(),
                remote_tag: to.tag()?.to_owned(),
            },
            role: Role::Uac,
            local_uri: without_tag(&from),
            remote_uri: without_tag(&to),
            local_seq: invite.cseq()?.seq,
            remote_seq: None,
            remote_target: response.contact_uri()?,
            route_set,
            local,
            confirmed: response.status().is_some_and(|s| (200..300).contains(&s)),
        })
    }

    /// The dialog's id.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Whether we are UAS or UAC.
    pub fn role(&self) -> Role {
        self.role
    }

    /// `true` once a 2xx was sent or received (and, as UAS, its ACK came).
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// Marks the dialog confirmed (the ACK for our 2xx arrived, or we
    /// received a 2xx).
    pub fn confirm(&mut self) {
        self.confirmed = true;
    }

    /// The peer's Contact URI, where in-dialog requests go.
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, first hop first.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// The URI the adapter resolves to send an in-dialog request: the first
    /// route if there is one, else the remote target.
    pub fn next_hop(&self) -> String {
        match self.route_set.first().and_then(|r| NameAddr::parse(r)) {
            Some(route) => route.uri,
            None => self.remote_target.clone(),
        }
    }

    /// Our CSeq for the next request (the last one used).
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// A new in-dialog request (BYE, re-INVITE, INFO, ...) with the next
    /// local CSeq, the remote target as Request-URI and the route set as
    /// `Route` (RFC 3261 12.2.1.1; a strict-routing first hop becomes the
    /// Request-URI). Add a body with [`Message::with_body`].
    pub fn request(&mut self, method: Method, branch: &str) -> Result<Message, BuildError> {
        self.local_seq = self.local_seq.wrapping_add(1);
        self.build(method, branch, self.local_seq)
    }

    /// The ACK for a 2xx to the INVITE with CSeq `invite_seq` (RFC 3261
    /// 13.2.2.4): a request of its own with a new branch and the INVITE's
    /// CSeq number. Add the SDP answer with [`Message::with_body`] when the
    /// INVITE had no offer.
    pub fn ack(&self, invite_seq: u32, branch: &str) -> Result<Message, BuildError> {
        self.build(Method::Ack, branch, invite_seq)
    }

    /// Checks an in-dialog request against the remote CSeq and takes what it
    /// changes: the CSeq, and the remote target for a target refresh
    /// (re-INVITE, UPDATE). ACK and CANCEL reuse their INVITE's CSeq and
    /// are not checked.
    pub fn handle_request(&mut self, request: &Message) -> Result<(), InDialogError> {
        let method = request.method();
        if matches!(method, Some(Method::Ack | Method::Cancel)) {
            return Ok(());
        }
        let seq = request.cseq().ok_or(InDialogError::NoCSeq)?.seq;
        match self.remote_seq {
            Some(last) if seq <= last => return Err(InDialogError::OutOfOrder { got: seq, last }),
            _ => {}
        }
        self.remote_seq = Some(seq);
        let refresh = matches!(method, Some(Method::Invite | Method::Update));
        match request.contact_uri() {
            Some(target) if refresh => self.remote_target = target,
            _ => {}
        }
        Ok(())
    }

    fn build(&self, method: Method, branch: &str, cseq: u32) -> Result<Message, BuildError> {
        let loose = self
            .route_set
            .first()
            .and_then(|r| NameAddr::parse(r))
            .is_none_or(|r| SipUri::parse(&r.uri).is_some_and(|u| u.param("lr").is_some()));
        let (uri, route) = if loose {
            (self.remote_target.clone(), self.route_set.clone())
        } else {
            // Strict routing (RFC 3261 12.2.1.1): the first route is the
            // Request-URI and the remote target goes last in Route.
            let first = self
                .route_set
                .first()
                .and_then(|r| NameAddr::parse(r))
                .map(|r| r.uri)
                .unwrap_or_else(|| self.remote_target.clone());
            let mut rest: Vec<String> = self.route_set.iter().skip(1).cloned().collect();
            rest.push(format!("<{}>", self.remote_target));
            (first, rest)
        };
        message::request(&RequestParts {
            method,
            uri: &uri,
            transport: self.local.transport,
            sent_by: &self.local.sent_by,
            branch,
            from: &self.local_uri,
            from_tag: &self.id.local_tag,
            to: &self.remote_uri,
            to_tag: Some(&self.id.remote_tag),
            call_id: &self.id.call_id,
            cseq,
            contact: Some(&self.local.contact),
            route: &route,
            max_forwards: 70,
        })
    }
}

impl Dialogs {
    /// An empty table.
    pub fn new() -> Dialogs {
        Dialogs::default()
    }

    /// Adds (or replaces) a dialog.
    pub fn insert(&mut self, dialog: Dialog) {
        self.map.insert(dialog.id.clone(), dialog);
    }

    /// A dialog by id.
    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.map.get(id)
    }

    /// A dialog by id, to change it.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.map.get_mut(id)
    }

    /// Removes a dialog (after BYE).
    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        self.map.remove(id)
    }

    /// How many dialogs exist.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// `true` when there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Matches an incoming request: our tag is its To tag, the peer's its
    /// From tag (RFC 3261 12.2.2).
    pub fn match_request(&self, request: &Message) -> Match {
        let Some(local_tag) = request.to_tag() else {
            return Match::OutOfDialog;
        };
        let id = DialogId {
            call_id: request.call_id().unwrap_or_default().to_owned(),
            local_tag,
            remote_tag: request.from_tag().unwrap_or_default(),
        };
        if self.map.contains_key(&id) {
            Match::Dialog(id)
        } else {
            Match::Unknown
        }
    }

    /// The dialog a response to one of our in-dialog requests belongs to:
    /// our tag is its From tag.
    pub fn match_response(&self, response: &Message) -> Option<DialogId> {
        let id = DialogId {
            call_id: response.call_id()?.to_owned(),
            local_tag: response.from_tag()?,
            remote_tag: response.to_tag()?,
        };
        self.map.contains_key(&id).then_some(id)
    }
}

/// A From/To value without its tag, for the dialog's local and remote URIs.
fn without_tag(addr: &NameAddr) -> String {
    let mut addr = addr.clone();
    addr.params.retain(|p| !p.name.eq_ignore_ascii_case("tag"));
    addr.to_string()
}
