//! RFC 3261 section 17 transactions as one I/O-free state machine.
//!
//! [`Transactions`] holds every client and server transaction. Its inputs
//! are [`Transactions::handle_incoming`] (a parsed message and where it came
//! from), [`Transactions::send_request`] and [`Transactions::send_response`]
//! (from the transaction user, the call logic), [`Transactions::handle_timeout`]
//! and [`Transactions::handle_transport_error`]; its outputs are drained with
//! [`Transactions::poll_transmit`] (bytes for the socket),
//! [`Transactions::poll_event`] (what time or the transport did to a
//! transaction) and [`Transactions::poll_timeout`] (when to call
//! `handle_timeout` next). Every message reaches the transaction user once,
//! through the return value of `handle_incoming`; retransmissions are
//! absorbed here. A server transaction waits without a timer until the TU
//! sends its final response, so the TU must answer every
//! [`Incoming::NewRequest`] (CANCEL included: 200 to the CANCEL, 487 to the
//! INVITE found with [`TxKey::cancelled_invite`]).
//!
//! Two choices go beyond the letter of RFC 3261 section 17, after RFC 6026:
//! a server INVITE transaction that sent a 2xx stays in `Accepted` for 64*T1,
//! retransmits the 2xx itself on UDP (the T1-doubling-to-T2 schedule of
//! 13.3.1.4) until the ACK arrives, absorbs INVITE retransmissions and hands
//! the ACK to the transaction user; a client INVITE transaction that received
//! a 2xx stays in `Accepted` for 64*T1 and hands every 2xx (retransmissions
//! and forks) to the transaction user, which acknowledges them through its
//! dialog.
//!
//! Three choices guard the server against whoever can send it datagrams. A
//! response is matched to a client transaction only when it comes from the
//! address the request went to ([`Incoming::Foreign`] otherwise), so a
//! forged 200 OK from elsewhere cannot answer an INVITE. The ACK for a 2xx
//! is matched by everything the dialog shares with it (Call-ID, CSeq
//! number, From and To tags), so an ACK from outside the dialog cannot take
//! its place. And the table is bounded: a new request that would take the
//! server transactions beyond [`Config::max_transactions`] is
//! [`Incoming::Overloaded`] and gets no transaction. Deadlines are kept in
//! order, so finding the next one costs O(log n) and firing k due timers
//! O(k log n), however many transactions wait.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{self, Message, Method, Transport};

/// The RFC 3261 timer bases and the table's bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// RTT estimate; 500 ms by default.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE
    /// responses; 4 s by default.
    pub t2: Duration,
    /// Maximum time a message stays in the network; 5 s by default.
    pub t4: Duration,
    /// The most server transactions alive at once; 150,000 by default. A
    /// new request beyond it is [`Incoming::Overloaded`]. Client
    /// transactions, which only the transaction user starts, do not count.
    pub max_transactions: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            max_transactions: 150_000,
        }
    }
}

/// Which end of a transaction we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Identifies a transaction: the top `Via` branch, the sent-by (server
/// side, RFC 3261 17.2.3) and the method, with ACK counted as INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxKey {
    side: Side,
    branch: String,
    sent_by: String,
    method: Method,
}

/// A transaction's state (RFC 3261 figures 5 to 8, with RFC 6026's Accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Client INVITE: sent, nothing heard.
    Calling,
    /// Non-INVITE: client sent / server received, no response yet.
    Trying,
    /// A provisional response was sent or received.
    Proceeding,
    /// INVITE: a 2xx was sent or received.
    Accepted,
    /// A final (non-2xx for INVITE) response was sent or received.
    Completed,
    /// Server INVITE: the ACK for the non-2xx final response arrived.
    Confirmed,
}

/// The timer whose expiry ended a transaction without success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timer {
    /// Client INVITE: no response within 64*T1.
    B,
    /// Client non-INVITE: no final response within 64*T1.
    F,
    /// Server INVITE: no ACK for a non-2xx final response within 64*T1.
    H,
    /// Server INVITE: no ACK for a 2xx within 64*T1 (RFC 3261 13.3.1.4):
    /// the dialog is confirmed but the session should be ended with a BYE.
    L,
}

/// What an incoming message means for the transaction user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A new request; a server transaction now exists under `key` and waits
    /// for the TU's responses. For an INVITE the transaction has already
    /// sent 100 Trying.
    NewRequest {
        /// The new server transaction.
        key: TxKey,
        /// The request.
        request: Message,
    },
    /// An ACK for a 2xx (or one matching no transaction): no transaction is
    /// created; the TU confirms its dialog (the ACK may carry the SDP answer).
    Ack(Message),
    /// A retransmission, absorbed here (answered with the last response or
    /// ACK when there is one).
    Retransmission,
    /// A response to one of our client transactions: provisional, final, or
    /// a further 2xx to an INVITE (the TU re-sends its ACK).
    Response {
        /// The client transaction.
        key: TxKey,
        /// The response.
        response: Message,
    },
    /// A response matching no transaction, or an ACK for a server
    /// transaction that is still proceeding. A 2xx here is a retransmission
    /// for an INVITE whose transaction has ended: the TU may re-send its ACK.
    Stray(Message),
    /// A response for one of our client transactions that came from
    /// another address than the one the request went to: forged, or sent
    /// by a broken peer. It did not touch the transaction. Drop it; it is
    /// counted in [`Transactions::foreign`], and the adapter logs it once
    /// per source, not once per datagram.
    Foreign {
        /// Where it came from.
        from: SocketAddr,
        /// The response.
        response: Message,
    },
    /// A new request that would take the server transactions beyond
    /// [`Config::max_transactions`]: no transaction was created. Answer it
    /// statelessly ([`Transactions::send_stateless`]) with 503 and a
    /// `Retry-After`. An ACK is never overloaded (it creates no
    /// transaction, and is never answered).
    Overloaded(Message),
}

/// What time or the transport did to a transaction; the transaction is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TuEvent {
    /// A timer expired without the answer it waited for.
    Timeout {
        /// The transaction that ended.
        key: TxKey,
        /// Which timer.
        timer: Timer,
    },
    /// The adapter could not send to the transaction's peer.
    TransportError {
        /// The transaction that ended.
        key: TxKey,
    },
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The destination.
    pub to: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    /// The message.
    pub bytes: Vec<u8>,
    /// Sent outside any transaction ([`Transactions::send_bytes`]): an
    /// answer no dialog's state depends on (a refusal, an ACK).
    pub stateless: bool,
    /// It tells its peer that a call or leg ended: a BYE or a CANCEL, the
    /// answer to a BYE, a failure answer to an INVITE (and their
    /// retransmissions). The server holds these until the call's record
    /// is durable; nothing else waits.
    pub ends: bool,
}

/// How many transactions of each kind are alive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Server INVITE transactions.
    pub server_invite: usize,
    /// Server non-INVITE transactions.
    pub server_non_invite: usize,
    /// Client INVITE transactions.
    pub client_invite: usize,
    /// Client non-INVITE transactions.
    pub client_non_invite: usize,
}

/// Why the TU's send was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No transaction with that key (it ended, or never was).
    #[error("no such transaction")]
    NoTransaction,
    /// The transaction cannot send that now (a final response was sent
    /// already, or a response on a client transaction).
    #[error("the transaction cannot send this in its state")]
    WrongState,
    /// The message is not what this call sends (a response given as a
    /// request, an ACK, a request without `Via` branch, a status outside 100-699).
    #[error("invalid message for this call: {0}")]
    Invalid(&'static str),
    /// A client transaction with this branch and method exists.
    #[error("a transaction with this branch exists")]
    Exists,
}

/// Every transaction, with the output queues.
#[derive(Debug)]
pub struct Transactions {
    config: Config,
    txs: HashMap<TxKey, Tx>,
    /// Server INVITE transactions that sent a 2xx, by what the ACK for it
    /// carries (its branch is new, RFC 3261 17.1.1.3).
    accepted: HashMap<AckKey, TxKey>,
    /// Each transaction's next deadline with its id (unique, so entries
    /// never collide), earliest first; the transaction remembers its entry.
    timers: BTreeMap<(Instant, u64), TxKey>,
    /// The id the next transaction gets.
    next_id: u64,
    /// The live transactions by kind, kept as they come and go.
    counts: Counts,
    /// Responses from another address than their transaction's peer.
    foreign: u64,
    /// Timer entries taken from the index by `handle_timeout`, ever.
    fired: u64,
    transmits: VecDeque<Transmit>,
    /// New INVITE server transactions and their 100 Trying, sent by the
    /// next [`Transactions::poll_transmit`] unless the TU answered first.
    trying_due: Vec<(TxKey, Message)>,
    events: VecDeque<TuEvent>,
}

/// What the ACK for a 2xx shares with the 2xx, so with the dialog: Call-ID,
/// CSeq number, From tag and To tag.
type AckKey = (String, u32, String, Option<String>);

// rsip's `Method` is not `Hash`; its discriminant is.
impl std::hash::Hash for TxKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.side.hash(state);
        self.branch.hash(state);
        self.sent_by.hash(state);
        std::mem::discriminant(&self.method).hash(state);
    }
}

impl TxKey {
    /// Which end we are.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The branch.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The method (INVITE for an INVITE's ACK).
    pub fn method(&self) -> Method {
        self.method
    }

    /// The key of the INVITE transaction a CANCEL with this key cancels
    /// (same branch and sent-by, RFC 3261 9.2).
    pub fn cancelled_invite(&self) -> TxKey {
        TxKey {
            method: Method::Invite,
            ..self.clone()
        }
    }
}

impl Counts {
    /// All transactions.
    pub fn total(&self) -> usize {
        self.server_invite + self.server_non_invite + self.client_invite + self.client_non_invite
    }

    /// Server transactions, which [`Config::max_transactions`] bounds.
    pub fn server(&self) -> usize {
        self.server_invite + self.server_non_invite
    }

    /// The count a transaction with `key` is in.
    fn of(&mut self, key: &TxKey) -> &mut usize {
        match (key.side, key.method == Method::Invite) {
            (Side::Server, true) => &mut self.server_invite,
            (Side::Server, false) => &mut self.server_non_invite,
            (Side::Client, true) => &mut self.client_invite,
            (Side::Client, false) => &mut self.client_non_invite,
        }
    }
}

impl Transactions {
    /// An empty table.
    pub fn new(config: Config) -> Transactions {
        Transactions {
            config,
            txs: HashMap::new(),
            accepted: HashMap::new(),
            timers: BTreeMap::new(),
            next_id: 0,
            counts: Counts::default(),
            foreign: 0,
            fired: 0,
            transmits: VecDeque::new(),
            trying_due: Vec::new(),
            events: VecDeque::new(),
        }
    }

    /// Matches a parsed message against the transactions (RFC 3261 17.1.3
    /// and 17.2.3) and runs the state machine it reaches. The transport of a
    /// request is read from its top `Via` (TCP, TLS, SCTP and WS count as
    /// reliable). A response must come from the address its request went
    /// to (`from`; an IPv4-mapped IPv6 address counts as the IPv4 one).
    pub fn handle_incoming(
        &mut self,
        message: Message,
        from: SocketAddr,
        now: Instant,
    ) -> Incoming {
        if message.is_request() {
            self.incoming_request(message, from, now)
        } else {
            self.incoming_response(message, from, now)
        }
    }

    /// Sends a response on a server transaction. Responses go to the address
    /// the request came from (as with `rport`, RFC 3581), which is where a
    /// peer behind NAT can receive them.
    pub fn send_response(
        &mut self,
        key: &TxKey,
        response: Message,
        now: Instant,
    ) -> Result<(), SendError> {
        let status = response
            .status()
            .ok_or(SendError::Invalid("not a response"))?;
        if !(100..=699).contains(&status) {
            return Err(SendError::Invalid("status outside 100-699"));
        }
        let config = self.config;
        let tx = self.txs.get_mut(key).ok_or(SendError::NoTransaction)?;
        if key.side != Side::Server {
            return Err(SendError::WrongState);
        }
        let bytes = message::serialize(&response);
        let unreliable = !tx.transport.is_reliable();
        let mut done = false;
        match (key.method, tx.state, status) {
            (Method::Invite, State::Proceeding, 100..=199) => {}
            (Method::Invite, State::Proceeding, 200..=299) => {
                tx.state = State::Accepted;
                tx.end_at = Some(now + config.t1 * 64);
                if unreliable {
                    tx.retransmit(now, config.t1);
                }
                if let Some(ack_key) = ack_key(&response) {
                    self.accepted.insert(ack_key.clone(), key.clone());
                    tx.ack_key = Some(ack_key);
                }
            }
            (Method::Invite, State::Proceeding, _) => {
                tx.state = State::Completed;
                tx.timeout_at = Some(now + config.t1 * 64);
                if unreliable {
                    tx.retransmit(now, config.t1);
                }
            }
            (_, State::Trying | State::Proceeding, 100..=199) if key.method != Method::Invite => {
                tx.state = State::Proceeding;
            }
            (_, State::Trying | State::Proceeding, _) if key.method != Method::Invite => {
                tx.state = State::Completed;
                if unreliable {
                    tx.end_at = Some(now + config.t1 * 64);
                } else {
                    done = true;
                }
            }
            _ => return Err(SendError::WrongState),
        }
        let ends = key.method == Method::Bye || (key.method == Method::Invite && status >= 300);
        self.transmits.push_back(Transmit {
            to: tx.peer,
            transport: tx.transport,
            bytes: bytes.clone(),
            stateless: false,
            ends,
        });
        tx.last = Some(bytes);
        tx.ends = ends;
        if done {
            self.remove(key);
        } else {
            self.schedule(key);
        }
        Ok(())
    }

    /// Starts a client transaction for `request` (anything but ACK, which is
    /// sent with [`Transactions::send_stateless`]). The request must carry
    /// its top `Via` with a branch.
    pub fn send_request(
        &mut self,
        request: Message,
        to: SocketAddr,
        transport: Transport,
        now: Instant,
    ) -> Result<TxKey, SendError> {
        let method = request
            .method()
            .ok_or(SendError::Invalid("not a request"))?;
        if method == Method::Ack {
            return Err(SendError::Invalid("ACK is sent without a transaction"));
        }
        let via = request.top_via().ok_or(SendError::Invalid("no Via"))?;
        let branch = via.branch().ok_or(SendError::Invalid("no branch"))?;
        let key = TxKey {
            side: Side::Client,
            branch: branch.to_owned(),
            sent_by: String::new(),
            method,
        };
        if self.txs.contains_key(&key) {
            return Err(SendError::Exists);
        }
        let bytes = message::serialize(&request);
        let ends = matches!(method, Method::Bye | Method::Cancel);
        self.transmits.push_back(Transmit {
            to,
            transport,
            bytes: bytes.clone(),
            stateless: false,
            ends,
        });
        let mut tx = Tx::new(
            if method == Method::Invite {
                State::Calling
            } else {
                State::Trying
            },
            to,
            transport,
        );
        tx.timeout_at = Some(now + self.config.t1 * 64);
        if !transport.is_reliable() {
            tx.retransmit(now, self.config.t1);
        }
        tx.last = Some(bytes);
        tx.ends = ends;
        tx.request = Some(request);
        self.insert(key.clone(), tx);
        Ok(key)
    }

    /// Sends a message outside any transaction: the ACK for a 2xx, or a
    /// response to a request that could not be parsed.
    pub fn send_stateless(&mut self, message: &Message, to: SocketAddr, transport: Transport) {
        self.send_bytes(message::serialize(message), to, transport);
    }

    /// Sends bytes outside any transaction (see [`message::error_response`]).
    pub fn send_bytes(&mut self, bytes: Vec<u8>, to: SocketAddr, transport: Transport) {
        self.transmits.push_back(Transmit {
            to,
            transport,
            bytes,
            stateless: true,
            ends: false,
        });
    }

    /// Fires every timer due at `now`, earliest first across all
    /// transactions, so a late call catches up exactly (retransmissions,
    /// then timeouts). Costs O(log n) per timer due, nothing per
    /// transaction that is not.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let key = entry.remove();
            self.fired += 1;
            if let Some(tx) = self.txs.get_mut(&key) {
                tx.scheduled = None;
            }
            self.fire(&key, now);
        }
    }

    /// Ends every transaction with this peer after the adapter failed to
    /// send to it (ICMP unreachable, TCP connection refused or reset),
    /// reporting [`TuEvent::TransportError`] for each. This looks at every
    /// transaction: call it for real failures only, which are rare.
    pub fn handle_transport_error(&mut self, to: SocketAddr, _now: Instant) {
        let failed: Vec<TxKey> = self
            .txs
            .iter()
            .filter(|(_, tx)| tx.peer == to)
            .map(|(k, _)| k.clone())
            .collect();
        for key in failed {
            self.remove(&key);
            self.events.push_back(TuEvent::TransportError { key });
        }
    }

    /// The next datagram or stream write. A new INVITE's 100 Trying is
    /// written here, after the TU had its turn with the request, and only
    /// when the TU has not answered it yet.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if !self.trying_due.is_empty() {
            self.send_due_trying();
        }
        self.transmits.pop_front()
    }

    /// RFC 3261 17.2.1: a server INVITE transaction answers 100 Trying
    /// unless the TU is known to answer within 200 ms. The TU has been
    /// given the request by the time the transmits are drained; one that
    /// answered at once (most calls: the flow answers or refuses without
    /// waiting) needs no 100, and one that waits (an HTTP hook, a queue)
    /// gets it now, well within 200 ms.
    fn send_due_trying(&mut self) {
        let mut due = std::mem::take(&mut self.trying_due);
        for (key, trying) in due.drain(..) {
            if let Some(tx) = self.txs.get_mut(&key)
                && tx.last.is_none()
                && tx.state == State::Proceeding
            {
                let bytes = message::serialize(&trying);
                self.transmits.push_back(Transmit {
                    to: tx.peer,
                    transport: tx.transport,
                    bytes: bytes.clone(),
                    stateless: false,
                    ends: false,
                });
                tx.last = Some(bytes);
            }
        }
        // Keep the allocation for the next turn.
        self.trying_due = due;
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<TuEvent> {
        self.events.pop_front()
    }

    /// When [`Transactions::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first_key_value().map(|((at, _), _)| *at)
    }

    /// Whether `request` would start a server transaction: no transaction
    /// has its key (a retransmission has one).
    pub fn is_new(&self, request: &Message) -> bool {
        server_key(request).is_some_and(|key| !self.txs.contains_key(&key))
    }

    /// The state of a transaction.
    pub fn state(&self, key: &TxKey) -> Option<State> {
        self.txs.get(key).map(|tx| tx.state)
    }

    /// The live transactions by kind; zero everywhere once calls are over
    /// and the timers have run out, which is how tests prove nothing leaks.
    /// Kept as transactions come and go, so this costs nothing.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// How many responses came from another address than their client
    /// transaction's peer ([`Incoming::Foreign`]) since the table was made.
    pub fn foreign(&self) -> u64 {
        self.foreign
    }

    /// How many transactions have a timer running: the entries of the
    /// deadline index, which is empty once every timer has run out (tests
    /// use it to prove the index does not leak).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    fn incoming_request(&mut self, request: Message, from: SocketAddr, now: Instant) -> Incoming {
        let Some(key) = server_key(&request) else {
            return Incoming::Stray(request);
        };
        if request.method() == Some(Method::Ack) {
            return self.incoming_ack(key, request, now);
        }
        if let Some(tx) = self.txs.get(&key) {
            // A retransmission: answer with the last response, if any.
            if let Some(last) = &tx.last {
                self.transmits.push_back(Transmit {
                    to: tx.peer,
                    transport: tx.transport,
                    bytes: last.clone(),
                    stateless: false,
                    ends: tx.ends,
                });
            }
            return Incoming::Retransmission;
        }
        if self.counts.server() >= self.config.max_transactions {
            return Incoming::Overloaded(request);
        }
        let reliable = request
            .top_via()
            .is_some_and(|v| matches!(v.transport.as_str(), "TCP" | "TLS" | "SCTP" | "WS" | "WSS"));
        let transport = if reliable {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let state = if key.method == Method::Invite {
            State::Proceeding
        } else {
            State::Trying
        };
        let tx = Tx::new(state, from, transport);
        if key.method == Method::Invite {
            // The 100 Trying waits for the TU's answer: see
            // `send_due_trying`.
            let trying = message::response_for(&request, 100, "Trying");
            self.trying_due.push((key.clone(), trying));
        }
        self.insert(key.clone(), tx);
        Incoming::NewRequest { key, request }
    }

    fn incoming_ack(&mut self, key: TxKey, ack: Message, now: Instant) -> Incoming {
        let t4 = self.config.t4;
        // The ACK for a non-2xx final response has the INVITE's branch.
        if let Some(tx) = self.txs.get_mut(&key) {
            match tx.state {
                State::Completed => {
                    tx.state = State::Confirmed;
                    tx.retransmit_at = None;
                    tx.timeout_at = None;
                    if tx.transport.is_reliable() {
                        self.remove(&key);
                    } else {
                        tx.end_at = Some(now + t4);
                        self.schedule(&key);
                    }
                    return Incoming::Retransmission;
                }
                State::Confirmed => return Incoming::Retransmission,
                State::Accepted => return self.acked(&key, ack, now),
                _ => return Incoming::Stray(ack),
            }
        }
        // The ACK for a 2xx has a branch of its own.
        if let Some(invite) = ack_key(&ack).and_then(|k| self.accepted.get(&k)).cloned() {
            return self.acked(&invite, ack, now);
        }
        Incoming::Ack(ack)
    }

    /// The ACK for our 2xx: stop retransmitting it and hand the ACK over
    /// once. The transaction lives on to absorb retransmitted INVITEs, but
    /// only for T4 more rather than until timer L: the ACK proves the
    /// client got our 2xx, so it stopped retransmitting its INVITE at the
    /// latest then (it stops at our 100 Trying), and a copy still in the
    /// network is gone within T4, the longest a message stays there. At
    /// 3,000 calls a second this keeps 15,000 accepted INVITEs in the table
    /// instead of 96,000.
    fn acked(&mut self, key: &TxKey, ack: Message, now: Instant) -> Incoming {
        let t4 = self.config.t4;
        let Some(tx) = self.txs.get_mut(key) else {
            return Incoming::Ack(ack);
        };
        if tx.acked {
            return Incoming::Retransmission;
        }
        tx.acked = true;
        tx.retransmit_at = None;
        tx.end_at = tx.end_at.map(|end| end.min(now + t4));
        self.schedule(key);
        Incoming::Ack(ack)
    }

    fn incoming_response(&mut self, response: Message, from: SocketAddr, now: Instant) -> Incoming {
        let key = match (response.top_via(), response.cseq()) {
            (Some(via), Some(cseq)) => via.branch().and_then(|branch| {
                Some(TxKey {
                    side: Side::Client,
                    branch: branch.to_owned(),
                    sent_by: String::new(),
                    method: cseq.method.parse().ok()?,
                })
            }),
            _ => None,
        };
        let Some(key) = key else {
            return Incoming::Stray(response);
        };
        let Some(status) = response.status() else {
            return Incoming::Stray(response);
        };
        let config = self.config;
        let Some(tx) = self.txs.get_mut(&key) else {
            return Incoming::Stray(response);
        };
        if !same_address(from, tx.peer) {
            self.foreign += 1;
            return Incoming::Foreign { from, response };
        }
        let unreliable = !tx.transport.is_reliable();
        let invite = key.method == Method::Invite;
        let mut done = false;
        match (invite, tx.state, status) {
            (true, State::Calling | State::Proceeding, 100..=199) => {
                tx.state = State::Proceeding;
                tx.retransmit_at = None;
                tx.timeout_at = None;
            }
            (true, State::Calling | State::Proceeding, 200..=299) => {
                tx.state = State::Accepted;
                tx.retransmit_at = None;
                tx.timeout_at = None;
                tx.end_at = Some(now + config.t1 * 64);
            }
            (true, State::Accepted, 200..=299) => {}
            (true, State::Calling | State::Proceeding, _) => {
                tx.state = State::Completed;
                tx.retransmit_at = None;
                tx.timeout_at = None;
                let ack = tx
                    .request
                    .as_ref()
                    .and_then(|invite| message::ack_for_failure(invite, &response))
                    .map(|ack| message::serialize(&ack));
                if let Some(ack) = &ack {
                    self.transmits.push_back(Transmit {
                        to: tx.peer,
                        transport: tx.transport,
                        bytes: ack.clone(),
                        stateless: false,
                        ends: false,
                    });
                }
                tx.last = ack;
                tx.ends = false;
                if unreliable {
                    tx.end_at = Some(now + Duration::from_secs(32));
                } else {
                    done = true;
                }
            }
            (true, State::Completed, 300..=699) => {
                if let Some(ack) = &tx.last {
                    self.transmits.push_back(Transmit {
                        to: tx.peer,
                        transport: tx.transport,
                        bytes: ack.clone(),
                        stateless: false,
                        ends: false,
                    });
                }
                return Incoming::Retransmission;
            }
            (false, State::Trying | State::Proceeding, 100..=199) => {
                tx.state = State::Proceeding;
            }
            (false, State::Trying | State::Proceeding, _) => {
                tx.state = State::Completed;
                tx.retransmit_at = None;
                tx.timeout_at = None;
                if unreliable {
                    tx.end_at = Some(now + config.t4);
                } else {
                    done = true;
                }
            }
            _ => return Incoming::Retransmission,
        }
        if done {
            self.remove(&key);
        } else {
            self.schedule(&key);
        }
        Incoming::Response { key, response }
    }

    /// Fires the earliest timer of a transaction whose index entry was
    /// just taken, and files its next deadline (or removes it).
    fn fire(&mut self, key: &TxKey, now: Instant) {
        let config = self.config;
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        let Some(deadline) = tx.next_deadline().filter(|d| *d <= now) else {
            self.schedule(key);
            return;
        };
        if tx.retransmit_at == Some(deadline) {
            tx.interval = match (key.side, key.method, tx.state) {
                // Timer A doubles without bound.
                (Side::Client, Method::Invite, _) => tx.interval * 2,
                // Timer E in Proceeding fires every T2.
                (Side::Client, _, State::Proceeding) => config.t2,
                // Timers E and G, and the 2xx retransmission, double up to T2.
                _ => (tx.interval * 2).min(config.t2),
            };
            tx.retransmit_at = Some(deadline + tx.interval);
            if let Some(last) = &tx.last {
                self.transmits.push_back(Transmit {
                    to: tx.peer,
                    transport: tx.transport,
                    bytes: last.clone(),
                    stateless: false,
                    ends: tx.ends,
                });
            }
            self.schedule(key);
        } else if tx.timeout_at == Some(deadline) {
            let timer = match (key.side, key.method) {
                (Side::Client, Method::Invite) => Timer::B,
                (Side::Client, _) => Timer::F,
                (Side::Server, _) => Timer::H,
            };
            self.remove(key);
            self.events.push_back(TuEvent::Timeout {
                key: key.clone(),
                timer,
            });
        } else {
            let unacked_2xx = key.side == Side::Server && tx.state == State::Accepted && !tx.acked;
            self.remove(key);
            if unacked_2xx {
                self.events.push_back(TuEvent::Timeout {
                    key: key.clone(),
                    timer: Timer::L,
                });
            }
        }
    }

    /// Adds a transaction, counts it and files its first deadline.
    fn insert(&mut self, key: TxKey, mut tx: Tx) {
        tx.id = self.next_id;
        self.next_id += 1;
        *self.counts.of(&key) += 1;
        if let Some(old) = self.txs.insert(key.clone(), tx) {
            // Callers check first; should one not, the old one goes cleanly.
            *self.counts.of(&key) -= 1;
            if let Some(at) = old.scheduled {
                self.timers.remove(&(at, old.id));
            }
        }
        self.schedule(&key);
    }

    /// Files a transaction's next deadline in the index after its timers
    /// changed, replacing its entry there.
    fn schedule(&mut self, key: &TxKey) {
        let Some(tx) = self.txs.get_mut(key) else {
            return;
        };
        let next = tx.next_deadline();
        if next == tx.scheduled {
            return;
        }
        if let Some(at) = tx.scheduled {
            self.timers.remove(&(at, tx.id));
        }
        if let Some(at) = next {
            self.timers.insert((at, tx.id), key.clone());
        }
        tx.scheduled = next;
    }

    /// Removes a transaction with its index entry and its ACK entry.
    fn remove(&mut self, key: &TxKey) {
        let Some(tx) = self.txs.remove(key) else {
            return;
        };
        *self.counts.of(key) -= 1;
        if let Some(at) = tx.scheduled {
            self.timers.remove(&(at, tx.id));
        }
        if let Some(ack_key) = tx.ack_key
            && self.accepted.get(&ack_key) == Some(key)
        {
            self.accepted.remove(&ack_key);
        }
    }
}

/// One transaction's state, peer and timers.
#[derive(Debug)]
struct Tx {
    /// Unique in the table, to file the transaction's deadline.
    id: u64,
    /// The deadline filed in the index, if any.
    scheduled: Option<Instant>,
    /// Server INVITE that sent a 2xx: its entry in `accepted`.
    ack_key: Option<AckKey>,
    state: State,
    peer: SocketAddr,
    transport: Transport,
    /// Client: the request (to build the ACK for a failure).
    request: Option<Message>,
    /// What a retransmission timer or a retransmitted message re-sends:
    /// client, the request (then the ACK); server, the last response.
    last: Option<Vec<u8>>,
    /// `last` tells of a call's end (see [`Transmit::ends`]).
    ends: bool,
    /// Server INVITE in Accepted: the ACK arrived.
    acked: bool,
    /// Timers A, E, G and the 2xx retransmission.
    retransmit_at: Option<Instant>,
    interval: Duration,
    /// Timers B, F and H.
    timeout_at: Option<Instant>,
    /// Timers D, I, J, K, L and M: the transaction ends quietly (or, for L
    /// without ACK, with an event).
    end_at: Option<Instant>,
}

impl Tx {
    fn new(state: State, peer: SocketAddr, transport: Transport) -> Tx {
        Tx {
            id: 0,
            scheduled: None,
            ack_key: None,
            state,
            peer,
            transport,
            request: None,
            last: None,
            ends: false,
            acked: false,
            retransmit_at: None,
            interval: Duration::ZERO,
            timeout_at: None,
            end_at: None,
        }
    }

    fn retransmit(&mut self, now: Instant, first: Duration) {
        self.interval = first;
        self.retransmit_at = Some(now + first);
    }

    fn next_deadline(&self) -> Option<Instant> {
        [self.retransmit_at, self.timeout_at, self.end_at]
            .into_iter()
            .flatten()
            .min()
    }
}

/// The server transaction key of a request (RFC 3261 17.2.3): the branch
/// when it has the magic cookie, otherwise the RFC 2543 identity of the
/// request (Request-URI, Call-ID, From tag, CSeq number, top Via), which an
/// ACK shares with its INVITE.
fn server_key(request: &Message) -> Option<TxKey> {
    let via = request.top_via()?;
    let method = match request.method()? {
        Method::Ack => Method::Invite,
        m => m,
    };
    let branch = match via.branch() {
        Some(b) if b.starts_with("z9hG4bK") => b.to_owned(),
        _ => format!(
            "rfc2543:{}:{}:{}:{}:{}",
            request.request_uri()?,
            request.call_id()?,
            request.from_tag().unwrap_or_default(),
            request.cseq()?.seq,
            via
        ),
    };
    Some(TxKey {
        side: Side::Server,
        branch,
        sent_by: via.sent_by(),
        method,
    })
}

/// What identifies the INVITE a 2xx answered, as its ACK repeats it: the
/// dialog (Call-ID, both tags) and the CSeq number (RFC 3261 13.2.2.4).
fn ack_key(message: &Message) -> Option<AckKey> {
    Some((
        message.call_id()?.to_owned(),
        message.cseq()?.seq,
        message.from_tag()?,
        message.to_tag(),
    ))
}

/// Whether two socket addresses are the same peer, an IPv4-mapped IPv6
/// address (from a dual-stack socket) being the IPv4 address it maps.
fn same_address(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && a.ip().to_canonical() == b.ip().to_canonical()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    const PEER: &str = "192.0.2.10:5060";

    fn request(method: &str, branch: &str, transport: &str) -> Message {
        let text = format!(
            "{method} sip:ivr@198.51.100.1 SIP/2.0\r\n\
             Via: SIP/2.0/{transport} 192.0.2.10:5060;branch={branch}\r\n\
             From: <sip:alice@example.com>;tag=a1\r\n\
             To: <sip:ivr@198.51.100.1>\r\n\
             Call-ID: {branch}\r\n\
             CSeq: 1 {method}\r\n\
             Content-Length: 0\r\n\r\n"
        );
        message::parse(text.as_bytes()).unwrap()
    }

    /// What the index and the counters must agree on with the table itself.
    fn check(txs: &Transactions) {
        let mut counts = Counts::default();
        let mut deadlines = 0;
        for (key, tx) in &txs.txs {
            *counts.of(key) += 1;
            assert_eq!(tx.scheduled, tx.next_deadline(), "{key:?}");
            if let Some(at) = tx.scheduled {
                deadlines += 1;
                assert_eq!(txs.timers.get(&(at, tx.id)), Some(key));
            }
            if let Some(ack_key) = &tx.ack_key {
                assert!(txs.accepted.contains_key(ack_key));
            }
        }
        assert_eq!(txs.counts, counts);
        assert_eq!(txs.timers.len(), deadlines);
        assert!(txs.accepted.values().all(|k| txs.txs.contains_key(k)));
        assert_eq!(
            txs.poll_timeout(),
            txs.txs.values().filter_map(Tx::next_deadline).min()
        );
    }

    #[test]
    fn handle_timeout_with_nothing_due_visits_no_transaction() {
        let t0 = Instant::now();
        let mut txs = Transactions::new(Config {
            max_transactions: 50_000,
            ..Config::default()
        });
        // A flood of OPTIONS, each answered: 50,000 transactions waiting
        // 32 s for timer J.
        for i in 0..50_000 {
            let options = request("OPTIONS", &format!("z9hG4bKflood{i}"), "UDP");
            let Incoming::NewRequest { key, request } =
                txs.handle_incoming(options, PEER.parse().unwrap(), t0)
            else {
                panic!()
            };
            let ok = message::response_for(&request, 200, "OK");
            txs.send_response(&key, ok, t0).unwrap();
        }
        while txs.poll_transmit().is_some() {}
        let overloaded = txs.handle_incoming(
            request("OPTIONS", "z9hG4bKone-more", "UDP"),
            PEER.parse().unwrap(),
            t0,
        );
        assert!(matches!(overloaded, Incoming::Overloaded(_)));
        assert_eq!(txs.timer_entries(), 50_000);
        for ms in [0, 1, 1000, 31_999] {
            txs.handle_timeout(t0 + Duration::from_millis(ms));
        }
        assert_eq!(txs.fired, 0, "nothing was due, nothing was visited");
        assert_eq!(txs.counts().server_non_invite, 50_000);
        assert_eq!(txs.poll_timeout(), Some(t0 + Duration::from_secs(32)));
        txs.handle_timeout(t0 + Duration::from_secs(32));
        assert_eq!(txs.fired, 50_000);
        assert_eq!(txs.counts().total(), 0);
        assert_eq!(txs.timer_entries(), 0);
        assert!(txs.txs.is_empty() && txs.accepted.is_empty());
    }

    /// One thing that can happen to the table.
    #[derive(Debug, Clone)]
    enum Op {
        /// A request arrives (method, branch, over TCP).
        Incoming(&'static str, u8, bool),
        /// The TU answers the server transaction with this branch.
        Respond(u8, u16),
        /// An ACK for the 2xx to the INVITE with this branch (and To tag).
        AckFor2xx(u8, bool),
        /// We send a request (INVITE or not, branch, over TCP).
        Send(bool, u8, bool),
        /// A response to our request with this branch, from its peer or not.
        Answer(u8, u16, bool),
        /// Time passes by this many milliseconds.
        Wait(u32),
        /// Sending to the peer failed.
        TransportError,
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few branches and statuses, so that requests, answers and ACKs
        // meet often.
        let branch = 0u8..3;
        let status = prop::sample::select(vec![100u16, 180, 200, 486]);
        prop_oneof![
            3 => (
                prop::sample::select(vec!["INVITE", "INVITE", "OPTIONS", "BYE", "ACK", "CANCEL"]),
                branch.clone(),
                any::<bool>()
            )
                .prop_map(|(m, b, t)| Op::Incoming(m, b, t)),
            3 => (branch.clone(), status.clone()).prop_map(|(b, s)| Op::Respond(b, s)),
            2 => (branch.clone(), any::<bool>()).prop_map(|(b, t)| Op::AckFor2xx(b, t)),
            2 => (any::<bool>(), branch.clone(), any::<bool>()).prop_map(|(i, b, t)| Op::Send(i, b, t)),
            3 => (branch, status, any::<bool>()).prop_map(|(b, s, p)| Op::Answer(b, s, p)),
            2 => prop_oneof![0u32..2_000, 0u32..40_000].prop_map(Op::Wait),
            1 => Just(Op::TransportError),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 1000,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn deadline_index_and_counts_follow_the_table(ops in prop::collection::vec(op(), 1..60)) {
            let t0 = Instant::now();
            let peer: SocketAddr = PEER.parse().unwrap();
            let elsewhere: SocketAddr = "192.0.2.99:5060".parse().unwrap();
            let mut now = t0;
            let mut txs = Transactions::new(Config { max_transactions: 4, ..Config::default() });
            let mut server: HashMap<u8, (TxKey, Message)> = HashMap::new();
            let mut client: HashMap<u8, (TxKey, Message)> = HashMap::new();
            for op in ops {
                match op {
                    Op::Incoming(method, b, tcp) => {
                        let m = request(method, &format!("z9hG4bKs{b}"), if tcp { "TCP" } else { "UDP" });
                        if let Incoming::NewRequest { key, request } = txs.handle_incoming(m, peer, now) {
                            server.insert(b, (key, request));
                        }
                    }
                    Op::Respond(b, status) => {
                        if let Some((key, request)) = server.get(&b) {
                            let r = message::response_for(request, status, "R").with_to_tag("ours");
                            let _ = txs.send_response(key, r, now);
                        }
                    }
                    Op::AckFor2xx(b, ours) => {
                        let mut ack = request("ACK", &format!("z9hG4bKa{b}"), "UDP");
                        ack.set_header("Call-ID", &format!("z9hG4bKs{b}"));
                        let tag = if ours { "ours" } else { "other" };
                        ack.set_header("To", &format!("<sip:ivr@198.51.100.1>;tag={tag}"));
                        let _ = txs.handle_incoming(ack, peer, now);
                    }
                    Op::Send(invite, b, tcp) => {
                        let method = if invite { "INVITE" } else { "OPTIONS" };
                        let m = request(method, &format!("z9hG4bKc{b}"), "UDP");
                        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
                        if let Ok(key) = txs.send_request(m.clone(), peer, transport, now) {
                            client.insert(b, (key, m));
                        }
                    }
                    Op::Answer(b, status, from_peer) => {
                        if let Some((_, request)) = client.get(&b) {
                            let r = message::response_for(request, status, "R").with_to_tag("them");
                            let from = if from_peer { peer } else { elsewhere };
                            let outcome = txs.handle_incoming(r, from, now);
                            if !from_peer {
                                let dropped = matches!(outcome, Incoming::Foreign { .. } | Incoming::Stray(_));
                                prop_assert!(dropped, "{:?}", outcome);
                            }
                        }
                    }
                    Op::Wait(ms) => {
                        now += Duration::from_millis(u64::from(ms));
                        let before = txs.poll_timeout();
                        txs.handle_timeout(now);
                        if let Some(next) = txs.poll_timeout() {
                            prop_assert!(next > now);
                            prop_assert!(before.is_none_or(|b| next >= b));
                        }
                    }
                    Op::TransportError => txs.handle_transport_error(peer, now),
                }
                while txs.poll_transmit().is_some() {}
                while txs.poll_event().is_some() {}
                check(&txs);
                prop_assert!(txs.counts().server() <= 4);
            }
            // Whatever is left once every timer ran out waits for the TU: a
            // server transaction for its final response, or a client INVITE
            // that got a provisional one for its CANCEL.
            txs.handle_timeout(now + Duration::from_secs(3600));
            check(&txs);
            prop_assert_eq!(txs.timer_entries(), 0);
            let waiting = txs.txs.iter().all(|(k, tx)| match k.side {
                Side::Server => matches!(tx.state, State::Trying | State::Proceeding),
                Side::Client => k.method == Method::Invite && tx.state == State::Proceeding,
            });
            prop_assert!(waiting);
        }
    }
}
