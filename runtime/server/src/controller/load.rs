//! The SIP socket over UDP, and load shedding by the time a datagram waited
//! in it.
//!
//! The kernel stamps each datagram as it arrives (`SO_TIMESTAMPNS`), so the
//! controller knows how long every datagram it reads has waited. That wait
//! is the measure of load: a datagram read at once means the controller
//! keeps up, whatever the rate.
//!
//! Under a light load the controller reads the socket itself. Once a
//! datagram has waited [`READ_AFTER`], the [`Reader`] stands at the door:
//! it reads the socket, on a thread of its own that does little else, and
//! passes what it reads to the controller through a bounded channel (the
//! datagram's wait is then counted from its arrival in the socket to the
//! controller's taking it). It reads until [`OVERLOAD_ENDS`] has passed
//! without a datagram that waited [`SHED_AGE`]; the hand-over costs
//! nothing the rest of the time.
//!
//! A wait of [`OVERLOADED_AFTER`] starts an overload. During it, the
//! reader refuses a new call as it arrives, with a stateless 503 and
//! `Retry-After: 1` (see `front::shed`), while the oldest datagram waiting
//! for the controller has waited [`SHED_AGE`]; what belongs to calls
//! already up (ACKs, BYEs, re-INVITEs) goes to the controller as ever. So
//! a refusal never waits for the controller to get through the calls it
//! took: at 6,000 new calls a second on two cores shared with the caller
//! and the media, every refusal went out within 10 ms of the INVITE's
//! arrival (README, "Performance"). The calls the reader passed on are
//! served, late if need be: those that arrived while the overload was
//! being recognised wait up to a few hundred milliseconds, well inside
//! SIP's first retransmission. The controller refuses for the wait only
//! what it read itself (the reader not yet reading, or gone).
//!
//! A stall of the machine (the controller's thread not scheduled for some
//! milliseconds) leaves a queue whose datagrams waited less than
//! [`OVERLOADED_AFTER`]; the next turns clear it, and nothing is refused.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dialect_sip::ids::Ids;
use dialect_sip::message;
use tokio::net::UdpSocket;

use crate::guard::{Net, Rate, RateLimits};

/// The receive buffer asked for the SIP socket: a burst of call setups
/// waits here rather than being dropped by the kernel (about 3,000
/// INVITEs; the kernel caps it at `net.core.rmem_max`).
const SIP_RECEIVE_BUFFER: usize = 4 << 20;

/// A datagram that waited this long in the SIP socket starts an overload:
/// a stall of the machine shorter than this is absorbed by the queue and
/// cleared by the next turns, never refused.
pub(crate) const OVERLOADED_AFTER: Duration = Duration::from_millis(100);

/// During an overload, a new call that waited this long is refused.
pub(crate) const SHED_AGE: Duration = Duration::from_millis(5);

/// A datagram that waited this long in the SIP socket puts the [`Reader`]
/// at the door: it reads the socket from then on (until
/// [`OVERLOAD_ENDS`] without a datagram that waited [`SHED_AGE`]), so that
/// an overload, once recognised, is met with refusals as calls arrive,
/// and the calls that arrived before it was recognised are served (late)
/// rather than refused late.
pub(crate) const READ_AFTER: Duration = Duration::from_millis(10);

/// An overload ends after this long without a datagram that waited
/// [`SHED_AGE`].
pub(crate) const OVERLOAD_ENDS: Duration = Duration::from_millis(250);

/// A refusal this soon after the call's arrival is prompt (counted apart).
pub(crate) const PROMPT: Duration = Duration::from_millis(10);

/// A kernel stamp further in the past than this is not believed (the
/// wall clock was set meanwhile); the datagram counts as read at once.
const STAMP_BELIEVED: Duration = Duration::from_secs(10);

/// Binds the SIP socket with a large receive buffer and, on Linux, the
/// kernel's receive stamps.
pub(crate) fn bind_sip(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Best effort: a smaller buffer than asked is not an error.
    let _ = socket.set_recv_buffer_size(SIP_RECEIVE_BUFFER);
    #[cfg(target_os = "linux")]
    nix::sys::socket::setsockopt(
        &socket,
        nix::sys::socket::sockopt::ReceiveTimestampns,
        &true,
    )
    .map_err(std::io::Error::from)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// A datagram read from the SIP socket.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Received {
    pub(crate) len: usize,
    pub(crate) from: SocketAddr,
    /// How long it waited in the socket's queue (zero when unknown).
    pub(crate) waited: Duration,
}

/// Reads what waits in the SIP socket into `buf` from the controller's
/// task, without waiting: `WouldBlock` when nothing does (and the
/// socket's readiness is cleared). `control` is the reused room for the
/// kernel's stamp.
pub(crate) fn try_receive(
    socket: &UdpSocket,
    buf: &mut [u8],
    control: &mut [u8],
) -> std::io::Result<Received> {
    socket.try_io(tokio::io::Interest::READABLE, || {
        receive(socket, buf, control)
    })
}

/// Reads what waits in the SIP socket into `buf`, without waiting:
/// `WouldBlock` when nothing does. `control` is the reused room for the
/// kernel's stamp.
#[cfg(target_os = "linux")]
fn receive(
    socket: &impl std::os::fd::AsRawFd,
    buf: &mut [u8],
    control: &mut [u8],
) -> std::io::Result<Received> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrLike, SockaddrStorage};
    let mut iov = [std::io::IoSliceMut::new(buf)];
    let message = nix::sys::socket::recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(control),
        MsgFlags::empty(),
    )
    .map_err(std::io::Error::from)?;
    let from = message
        .address
        .as_ref()
        .and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| SocketAddr::from(std::net::SocketAddrV4::from(*v4)))
                .or_else(|| {
                    a.as_sockaddr_in6()
                        .map(|v6| SocketAddr::from(std::net::SocketAddrV6::from(*v6)))
                })
        })
        .ok_or_else(|| {
            std::io::Error::other(format!(
                "a datagram from an address of family {:?}",
                message.address.as_ref().and_then(|a| a.family())
            ))
        })?;
    let mut stamp = None;
    if let Ok(cmsgs) = message.cmsgs() {
        for cmsg in cmsgs {
            if let ControlMessageOwned::ScmTimestampns(at) = cmsg {
                stamp = Some(Duration::from(at));
            }
        }
    }
    Ok(Received {
        len: message.bytes,
        from,
        waited: stamp.map_or(Duration::ZERO, waited_since),
    })
}

/// Reads what waits in the SIP socket (no kernel stamps here: the wait
/// counts as zero, so nothing is shed).
#[cfg(not(target_os = "linux"))]
fn receive(
    socket: &impl ReceiveFrom,
    buf: &mut [u8],
    _control: &mut [u8],
) -> std::io::Result<Received> {
    let (len, from) = socket.receive_from(buf)?;
    Ok(Received {
        len,
        from,
        waited: Duration::ZERO,
    })
}

/// A socket read without the kernel's stamps.
#[cfg(not(target_os = "linux"))]
trait ReceiveFrom {
    fn receive_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)>;
}

#[cfg(not(target_os = "linux"))]
impl ReceiveFrom for UdpSocket {
    fn receive_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        self.try_recv_from(buf)
    }
}

#[cfg(not(target_os = "linux"))]
impl ReceiveFrom for std::net::UdpSocket {
    fn receive_from(&self, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
        self.recv_from(buf)
    }
}

/// The room `try_receive` needs for the kernel's stamp.
pub(crate) fn control_room() -> Vec<u8> {
    #[cfg(target_os = "linux")]
    {
        nix::cmsg_space!(nix::sys::time::TimeSpec)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Vec::new()
    }
}

/// How long ago the wall clock read `stamp` (since the epoch): zero for a
/// stamp in the future or too far in the past to believe.
fn waited_since(stamp: Duration) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    match now.checked_sub(stamp) {
        Some(waited) if waited <= STAMP_BELIEVED => waited,
        _ => Duration::ZERO,
    }
}

/// Datagrams read and not yet taken by the controller: about a second
/// of a heavy load's SIP input (beyond, the reader waits and the socket's
/// queue holds the rest).
pub(crate) const READ_AHEAD: usize = 4_096;

/// How long the reader remembers a call it passed on (SIP's timer B: a
/// caller retransmits its INVITE for as long).
const REMEMBERED: Duration = Duration::from_secs(32);

/// The most calls the reader remembers: 32 s at 8,000 new calls a second.
const REMEMBERED_MAX: usize = 256 * 1024;

/// How often the reader looks whether the controller is still there when
/// nothing arrives.
const READER_IDLE: u16 = 200;

/// A datagram the reader passes to the controller.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub(crate) bytes: Vec<u8>,
    pub(crate) from: SocketAddr,
    /// When it arrived in the socket (the kernel's stamp; when it was read
    /// without one).
    pub(crate) arrived: Instant,
}

/// What the controller tells the reader (whether to read, whether an
/// overload is on, how far behind the controller is), and what the reader
/// refused. Instants are nanoseconds after `base`.
#[derive(Debug)]
pub(crate) struct Refusing {
    base: Instant,
    /// Whether the reader reads the socket (during an overload).
    reading: AtomicBool,
    /// The reader ended (a bug): the controller always reads.
    ended: AtomicBool,
    /// The reader's thread, woken when it is to read.
    reader: OnceLock<std::thread::Thread>,
    /// Until when the overload is on (zero: none is).
    overloaded_until: AtomicU64,
    /// Datagrams the controller took from the reader so far.
    taken: AtomicU64,
    /// The INVITEs passed on lately (by the controller's own reads too).
    passed: Mutex<Passed>,
    /// New calls the reader refused, and of those within [`PROMPT`].
    refused: AtomicU64,
    refused_promptly: AtomicU64,
}

impl Default for Refusing {
    fn default() -> Refusing {
        Refusing {
            base: Instant::now(),
            reading: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            reader: OnceLock::new(),
            overloaded_until: AtomicU64::new(0),
            taken: AtomicU64::new(0),
            passed: Mutex::new(Passed::new()),
            refused: AtomicU64::new(0),
            refused_promptly: AtomicU64::new(0),
        }
    }
}

impl Refusing {
    /// Whether the reader reads the socket now (the controller does not).
    pub(crate) fn reading(&self) -> bool {
        self.reading.load(Relaxed)
    }

    /// Whether the reader has ended.
    pub(crate) fn reader_ended(&self) -> bool {
        self.ended.load(Relaxed)
    }

    /// The reader has ended: the controller reads the socket from now on.
    pub(crate) fn end_reader(&self) {
        self.ended.store(true, Relaxed);
        self.reading.store(false, Relaxed);
    }

    /// The reader is to read (an overload began) or not (it ended).
    fn read(&self, reading: bool) {
        let reading = reading && !self.reader_ended();
        if self.reading.swap(reading, Relaxed) != reading
            && reading
            && let Some(reader) = self.reader.get()
        {
            reader.unpark();
        }
    }

    /// An INVITE the controller read itself: the reader will not refuse its
    /// retransmissions.
    pub(crate) fn passed(&self, bytes: &[u8], now: Instant) {
        if let Some(id) = message::header_in(bytes, "Call-ID")
            && let Ok(mut passed) = self.passed.lock()
        {
            passed.remember(&id, now);
        }
    }

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_nanos()).unwrap_or(u64::MAX)
    }

    /// The overload is on until `overloaded_until`, if at all.
    fn overloaded(&self, overloaded_until: Option<Instant>) {
        let until = overloaded_until.map_or(0, |until| self.nanos(until).max(1));
        self.overloaded_until.store(until, Relaxed);
    }

    /// The controller took a datagram the reader passed on.
    pub(crate) fn took(&self) {
        self.taken.fetch_add(1, Relaxed);
    }

    /// Whether a new call is refused at `now`, the oldest datagram ahead of
    /// it (itself, when nothing waits for the controller) having arrived
    /// at `oldest`: when that one has waited [`SHED_AGE`] during an
    /// overload (the call would wait longer still), or
    /// [`OVERLOADED_AFTER`] at any time (the controller is stuck: the
    /// overload is recognised only when it takes that one).
    fn on(&self, now: Instant, oldest: Instant) -> bool {
        let behind = now.saturating_duration_since(oldest);
        behind >= SHED_AGE
            && (self.nanos(now) < self.overloaded_until.load(Relaxed) || behind >= OVERLOADED_AFTER)
    }
}

/// Reads the SIP socket over UDP under pressure (from a datagram that
/// waited [`READ_AFTER`] until the load is light again), on a thread of
/// its own, and passes what it reads to the controller, in order, through
/// a bounded channel. It is the door: while the oldest datagram waiting
/// for the controller has waited [`SHED_AGE`] during an overload (or
/// [`OVERLOADED_AFTER`] at any time: a stuck controller), the reader
/// refuses new calls itself as they arrive, with the same stateless 503
/// and `Retry-After: 1` as `front::shed`; the calls it passes on are
/// served, late if need be (the controller does not refuse them for their
/// wait). It refuses an INVITE outside any dialog from a trusted source or
/// one within its rate (its own count, with the same limits as the
/// controller's); anything else goes to the controller, which judges it
/// as ever. The Call-IDs of the INVITEs passed on (by the reader, and by
/// the controller's own reads) are remembered for [`REMEMBERED`], so that
/// a retransmission of a call the controller may have taken (a caller
/// that has not seen the answer yet) goes to the controller too, never
/// refused behind its back. Under a light load the reader sleeps and the
/// controller reads.
pub(crate) struct Reader {
    socket: std::net::UdpSocket,
    to_controller: tokio::sync::mpsc::Sender<Datagram>,
    refusing: Arc<Refusing>,
    trusted: Vec<Net>,
    rate: RateLimits,
    ids: Ids,
    /// The datagrams passed on so far.
    passed_on: u64,
    /// Of those the controller may not have taken yet: their number in
    /// that count and their arrival, oldest first (at most the channel's
    /// bound and the one the reader waits to pass on).
    waiting: std::collections::VecDeque<(u64, Instant)>,
}

/// The Call-IDs (keyed hashes) of the INVITEs passed on lately.
#[derive(Debug)]
struct Passed {
    hasher: std::collections::hash_map::RandomState,
    known: std::collections::HashSet<u64>,
    /// In the order passed on, for forgetting.
    order: std::collections::VecDeque<(Instant, u64)>,
}

impl Passed {
    fn new() -> Passed {
        Passed {
            hasher: std::collections::hash_map::RandomState::new(),
            known: std::collections::HashSet::new(),
            order: std::collections::VecDeque::new(),
        }
    }

    fn key(&self, call_id: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(call_id)
    }

    fn remember(&mut self, call_id: &str, now: Instant) {
        let key = self.key(call_id);
        if self.known.insert(key) {
            self.order.push_back((now, key));
        }
        while let Some(&(at, key)) = self.order.front() {
            if now.duration_since(at) < REMEMBERED && self.order.len() <= REMEMBERED_MAX {
                break;
            }
            self.order.pop_front();
            self.known.remove(&key);
        }
    }

    fn knows(&self, call_id: &str) -> bool {
        self.known.contains(&self.key(call_id))
    }
}

impl Reader {
    /// Starts the reader of `socket` (a second handle on it; the controller
    /// sends through the first). Returns the controller's end of the
    /// channel. The reader ends when that end is dropped.
    pub(crate) fn start(
        socket: &UdpSocket,
        config: &crate::config::Config,
        refusing: Arc<Refusing>,
    ) -> std::io::Result<tokio::sync::mpsc::Receiver<Datagram>> {
        let socket: std::net::UdpSocket = socket2::SockRef::from(socket).try_clone()?.into();
        let (to_controller, from_reader) = tokio::sync::mpsc::channel(READ_AHEAD);
        let reader = Reader {
            socket,
            to_controller,
            refusing,
            trusted: config.trusted(),
            rate: RateLimits::new(
                config.sip.rate_limit,
                config.sip.rate_burst,
                super::front::RATE_SOURCES,
            ),
            ids: Ids::from_os(),
            passed_on: 0,
            waiting: std::collections::VecDeque::with_capacity(READ_AHEAD + 1),
        };
        let refusing = reader.refusing.clone();
        let thread = std::thread::Builder::new()
            .name("dialect-sip-reader".into())
            .spawn(move || reader.run())?;
        let _ = refusing.reader.set(thread.thread().clone());
        Ok(from_reader)
    }

    fn run(mut self) {
        let mut buf = vec![0u8; 65_536];
        let mut control = control_room();
        loop {
            if self.to_controller.is_closed() {
                return;
            }
            if !self.refusing.reading() {
                std::thread::park_timeout(Duration::from_millis(u64::from(READER_IDLE)));
                continue;
            }
            wait_readable(&self.socket);
            while self.refusing.reading() {
                let received = match receive(&self.socket, &mut buf, &mut control) {
                    Ok(received) => received,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    // A datagram that could not be read (an address family
                    // we do not speak): back to waiting for the next.
                    Err(_) => break,
                };
                let Some(bytes) = buf.get(..received.len) else {
                    continue;
                };
                let now = Instant::now();
                if bytes.starts_with(b"INVITE ") {
                    if self.refused(bytes, received.from, received.waited, now) {
                        continue;
                    }
                    self.refusing.passed(bytes, now);
                }
                let arrived = now.checked_sub(received.waited).unwrap_or(now);
                let datagram = Datagram {
                    bytes: bytes.to_vec(),
                    from: received.from,
                    arrived,
                };
                self.oldest_waiting();
                self.waiting.push_back((self.passed_on, arrived));
                self.passed_on += 1;
                if self.to_controller.blocking_send(datagram).is_err() {
                    return;
                }
            }
        }
    }

    /// When the oldest datagram waiting for the controller arrived (none
    /// waits: `None`); forgets those it took.
    fn oldest_waiting(&mut self) -> Option<Instant> {
        let taken = self.refusing.taken.load(Relaxed);
        while self.waiting.front().is_some_and(|&(n, _)| n < taken) {
            self.waiting.pop_front();
        }
        self.waiting.front().map(|&(_, arrived)| arrived)
    }

    /// Refuses a new call while the controller is behind; whether it did.
    fn refused(&mut self, bytes: &[u8], from: SocketAddr, waited: Duration, now: Instant) -> bool {
        let arrived = now.checked_sub(waited).unwrap_or(now);
        let oldest = self.oldest_waiting().map_or(arrived, |o| o.min(arrived));
        if !self.refusing.on(now, oldest)
            || message::header_in(bytes, "Call-ID").is_none_or(|id| {
                self.refusing
                    .passed
                    .lock()
                    .map_or(true, |passed| passed.knows(&id))
            })
        {
            return false;
        }
        let Ok(request) = message::parse(bytes) else {
            return false;
        };
        if request.method() != Some(message::Method::Invite) || request.to_tag().is_some() {
            return false;
        }
        if !self.trusted.iter().any(|net| net.contains(from.ip()))
            && self.rate.check(from.ip(), now) != Rate::Pass
        {
            return false;
        }
        let response = super::front::service_unavailable(&request, &self.ids.tag(), "1");
        // Not sent (the kernel's buffer full): the caller retransmits.
        let _ = self.socket.send_to(&message::serialize(&response), from);
        self.refusing.refused.fetch_add(1, Relaxed);
        if waited + now.elapsed() < PROMPT {
            self.refusing.refused_promptly.fetch_add(1, Relaxed);
        }
        true
    }
}

/// Waits until `socket` has something to read, or [`READER_IDLE`] ms.
#[cfg(unix)]
fn wait_readable(socket: &std::net::UdpSocket) {
    use nix::poll::{PollFd, PollFlags, poll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
    if let Err(error) = poll(&mut fds, READER_IDLE)
        && error != nix::errno::Errno::EINTR
    {
        tracing::error!(%error, "the SIP socket cannot be polled");
        std::thread::sleep(Duration::from_millis(u64::from(READER_IDLE)));
    }
}

/// Waits a moment (no `poll` here).
#[cfg(not(unix))]
fn wait_readable(_socket: &std::net::UdpSocket) {
    std::thread::sleep(Duration::from_millis(1));
}

/// The upper bounds (ms) of [`Load::waits`]' buckets but the last.
pub(crate) const WAIT_BUCKETS: [u64; 5] = [1, 5, 10, 50, 100];

/// Whether the controller keeps up with its SIP socket.
#[derive(Debug, Default)]
pub(crate) struct Load {
    /// While overloaded: until when, unless a datagram waits
    /// [`SHED_AGE`] again.
    overloaded_until: Option<Instant>,
    /// While the reader reads the socket: until when, unless a datagram
    /// waits [`SHED_AGE`] again (it outlasts any overload).
    reading_until: Option<Instant>,
    /// New calls refused so far.
    pub(crate) shed: u64,
    /// Of those, refused within [`PROMPT`] of their arrival.
    pub(crate) shed_promptly: u64,
    /// Overloads so far.
    pub(crate) episodes: u64,
    /// The longest wait of a datagram so far, for the status.
    pub(crate) waited_max: Duration,
    /// Datagrams by their wait: under 1, 5, 10, 50 and 100 ms, and longer.
    pub(crate) waits: [u64; 6],
    /// All their waits added up.
    waited_sum: Duration,
    /// When an overload was last logged (at most every 10 s).
    logged: Option<Instant>,
    /// Shared with the reader (`serve`): whether it refuses new calls.
    pub(crate) refusing: Arc<Refusing>,
}

/// Who read a datagram from the SIP socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReadBy {
    /// The controller: it judges whether a new call is refused.
    Controller,
    /// The [`Reader`], which judged at the door already: what it passed
    /// on is served.
    Reader,
}

impl Load {
    /// A datagram that waited `waited` in the socket (and the reader's
    /// channel) is handled at `now`: returns whether a new call in it is
    /// to be refused with 503.
    pub(crate) fn arrived(&mut self, waited: Duration, now: Instant, by: ReadBy) -> bool {
        self.waited_max = self.waited_max.max(waited);
        self.waited_sum += waited;
        let bucket = WAIT_BUCKETS
            .iter()
            .position(|&ms| waited < Duration::from_millis(ms))
            .unwrap_or(WAIT_BUCKETS.len());
        if let Some(n) = self.waits.get_mut(bucket) {
            *n += 1;
        }
        if self.overloaded_until.is_some_and(|until| now >= until) {
            self.overloaded_until = None;
        }
        if self.reading_until.is_some_and(|until| now >= until) {
            self.reading_until = None;
            self.refusing.read(false);
        }
        if waited >= READ_AFTER && self.reading_until.is_none() {
            self.reading_until = Some(now + OVERLOAD_ENDS);
            self.refusing.read(true);
        }
        if waited >= OVERLOADED_AFTER && self.overloaded_until.is_none() {
            self.overloaded_until = Some(now + OVERLOAD_ENDS);
            self.episodes += 1;
            if self
                .logged
                .is_none_or(|at| now.duration_since(at) >= Duration::from_secs(10))
            {
                self.logged = Some(now);
                tracing::warn!(
                    waited_ms = waited.as_millis() as u64,
                    refused = self.refused_total(),
                    "SIP input is arriving faster than it is handled: new calls get 503"
                );
            }
        }
        let refusing = if waited >= SHED_AGE {
            if let Some(until) = self.reading_until.as_mut() {
                *until = now + OVERLOAD_ENDS;
            }
            if let Some(until) = self.overloaded_until.as_mut() {
                *until = now + OVERLOAD_ENDS;
                by == ReadBy::Controller
            } else {
                false
            }
        } else {
            false
        };
        self.refusing.overloaded(self.overloaded_until);
        refusing
    }

    /// New calls refused so far, by the controller and by the reader.
    pub(crate) fn refused_total(&self) -> u64 {
        self.shed + self.refusing.refused.load(Relaxed)
    }

    /// Of those, refused by the reader as they arrived.
    pub(crate) fn refused_by_reader(&self) -> u64 {
        self.refusing.refused.load(Relaxed)
    }

    /// Of those, refused within [`PROMPT`] of their arrival.
    pub(crate) fn refused_promptly(&self) -> u64 {
        self.shed_promptly + self.refusing.refused_promptly.load(Relaxed)
    }

    /// [`Load::waits`] by name, for the status and the log.
    pub(crate) fn waits_json(&self) -> serde_json::Value {
        let names = [
            "under_1ms",
            "under_5ms",
            "under_10ms",
            "under_50ms",
            "under_100ms",
            "longer",
        ];
        names
            .iter()
            .zip(self.waits)
            .map(|(name, n)| (name.to_string(), serde_json::Value::from(n)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// A new call that waited `waited` was refused.
    pub(crate) fn refused(&mut self, waited: Duration) {
        self.shed += 1;
        if waited < PROMPT {
            self.shed_promptly += 1;
        }
    }

    /// [`Load::waits`] as a Prometheus histogram's rows (suffix and
    /// labels, value): cumulative buckets, the sum and the count.
    pub(crate) fn wait_histogram(&self) -> Vec<(String, f64)> {
        let mut rows = Vec::with_capacity(self.waits.len() + 2);
        let mut total = 0;
        for (n, &count) in self.waits.iter().enumerate() {
            total += count;
            let le = WAIT_BUCKETS.get(n).map_or_else(
                || "+Inf".to_string(),
                |ms| (*ms as f64 / 1000.0).to_string(),
            );
            rows.push((format!("_bucket{{le=\"{le}\"}}"), total as f64));
        }
        rows.push(("_sum".to_string(), self.waited_sum.as_secs_f64()));
        rows.push(("_count".to_string(), total as f64));
        rows
    }

    /// Whether an overload is on at `now`.
    pub(crate) fn overloaded(&self, now: Instant) -> bool {
        self.overloaded_until.is_some_and(|until| now < until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_wait_shorter_than_an_overload_refuses_nothing() {
        let mut load = Load::default();
        let start = Instant::now();
        for n in 0..1000 {
            assert!(!load.arrived(OVERLOADED_AFTER - MS, start + MS * n, ReadBy::Controller));
        }
        assert_eq!(load.episodes, 0);
        assert!(!load.overloaded(start + MS * 1000));
    }

    #[test]
    fn an_overload_refuses_what_waited_and_takes_what_did_not() {
        let mut load = Load::default();
        let start = Instant::now();
        assert!(
            load.arrived(OVERLOADED_AFTER, start, ReadBy::Controller),
            "the datagram that started it is refused"
        );
        assert_eq!(load.episodes, 1);
        assert!(
            !load.arrived(SHED_AGE - MS, start + MS, ReadBy::Controller),
            "a datagram read at once is taken"
        );
        assert!(
            load.arrived(SHED_AGE, start + MS * 2, ReadBy::Controller),
            "one that waited is refused"
        );
        load.refused(SHED_AGE);
        load.refused(PROMPT);
        assert_eq!((load.shed, load.shed_promptly), (2, 1));
        // Waits keep coming: the overload goes on, one episode.
        for n in 3..2000 {
            load.arrived(SHED_AGE, start + MS * n, ReadBy::Controller);
        }
        assert!(load.overloaded(start + MS * 2000));
        assert_eq!(load.episodes, 1);
    }

    #[test]
    fn an_overload_ends_after_a_quiet_spell_and_a_stall_after_it_refuses_nothing() {
        let mut load = Load::default();
        let start = Instant::now();
        load.arrived(OVERLOADED_AFTER * 2, start, ReadBy::Controller);
        // Read at once from then on.
        let mut at = start;
        while at < start + OVERLOAD_ENDS {
            at += MS;
            load.arrived(Duration::ZERO, at, ReadBy::Controller);
        }
        assert!(!load.overloaded(at));
        // A stall after it: waits short of an overload are taken.
        assert!(!load.arrived(OVERLOADED_AFTER - MS, at + MS, ReadBy::Controller));
        assert_eq!(load.episodes, 1);
        assert_eq!(load.waited_max, OVERLOADED_AFTER * 2);
        assert_eq!(load.waits_json().get("longer"), Some(&1.into()));
        assert_eq!(load.waits_json().get("under_100ms"), Some(&1.into()));
        assert_eq!(load.waits_json().get("under_1ms"), Some(&250.into()));
        let histogram = load.wait_histogram();
        assert_eq!(
            histogram.first(),
            Some(&("_bucket{le=\"0.001\"}".to_string(), 250.0))
        );
        assert!(histogram.contains(&("_bucket{le=\"0.1\"}".to_string(), 251.0)));
        assert!(histogram.contains(&("_bucket{le=\"+Inf\"}".to_string(), 252.0)));
        assert!(histogram.contains(&("_count".to_string(), 252.0)));
    }

    #[test]
    fn a_stamp_from_the_future_or_the_far_past_counts_as_no_wait() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        assert_eq!(waited_since(now + Duration::from_secs(5)), Duration::ZERO);
        assert_eq!(waited_since(now - Duration::from_secs(60)), Duration::ZERO);
        let waited = waited_since(now - Duration::from_millis(30));
        assert!(waited >= Duration::from_millis(30) && waited < Duration::from_secs(1));
    }

    /// The kernel's stamp, read through a real socket: a datagram left
    /// waiting 60 ms is read as having waited that long. The kernel turns
    /// stamping on a moment after the first socket asks for it (deferred
    /// work), and a datagram that arrived before is stamped when read:
    /// the test tries a few datagrams until one is stamped on arrival.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_kernel_tells_how_long_a_datagram_waited() {
        let socket = bind_sip("127.0.0.1:0".parse().expect("address")).expect("bind");
        let to = socket.local_addr().expect("address");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut buf = [0u8; 64];
        let mut control = control_room();
        let mut seen = Vec::new();
        for _ in 0..20 {
            peer.send_to(b"OPTIONS", to).expect("send");
            tokio::time::sleep(Duration::from_millis(60)).await;
            socket.readable().await.expect("readable");
            let received = try_receive(&socket, &mut buf, &mut control).expect("receive");
            assert_eq!(buf.get(..received.len), Some(&b"OPTIONS"[..]));
            assert_eq!(received.from, peer.local_addr().expect("address"));
            assert!(received.waited < Duration::from_secs(5), "{received:?}");
            seen.push(received.waited);
            if received.waited >= Duration::from_millis(60) {
                break;
            }
        }
        assert!(
            seen.last()
                .is_some_and(|waited| *waited >= Duration::from_millis(60)),
            "{seen:?}"
        );
        let nothing = try_receive(&socket, &mut buf, &mut control);
        assert_eq!(
            nothing.map_err(|e| e.kind()).err(),
            Some(std::io::ErrorKind::WouldBlock)
        );
    }

    fn invite(call_id: &str, to_tag: &str) -> String {
        format!(
            "INVITE sip:48221000001@127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-{call_id}\r\n\
             From: <sip:48600100200@127.0.0.1>;tag=a1\r\n\
             To: <sip:48221000001@127.0.0.1>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    #[test]
    fn calls_passed_on_are_forgotten_after_timer_b_and_at_the_bound() {
        let mut passed = Passed::new();
        let start = Instant::now();
        passed.remember("one", start);
        assert!(passed.knows("one") && !passed.knows("two"));
        passed.remember("two", start + REMEMBERED - MS);
        assert!(passed.knows("one"));
        passed.remember("three", start + REMEMBERED);
        assert!(!passed.knows("one") && passed.knows("two") && passed.knows("three"));
        let later = start + REMEMBERED;
        for n in 0..REMEMBERED_MAX + 10 {
            passed.remember(&n.to_string(), later);
        }
        assert!(
            passed.order.len() <= REMEMBERED_MAX + 1,
            "{}",
            passed.order.len()
        );
        assert_eq!(passed.order.len(), passed.known.len());
        assert!(!passed.knows("two"), "the oldest went first");
    }

    #[test]
    fn the_reader_refuses_only_when_what_waits_for_the_controller_waited() {
        let refusing = Refusing::default();
        let start = Instant::now();
        assert!(!refusing.on(start, start), "nothing waited");
        assert!(
            !refusing.on(start + SHED_AGE, start),
            "the controller is behind, but no overload is on"
        );
        assert!(
            refusing.on(start + OVERLOADED_AFTER, start),
            "the controller is stuck"
        );
        refusing.overloaded(Some(start + OVERLOAD_ENDS));
        assert!(
            !refusing.on(start + MS, start),
            "an overload, but the controller keeps up"
        );
        assert!(
            refusing.on(start + SHED_AGE, start),
            "an overload, and the controller is behind"
        );
        assert!(
            !refusing.on(start + OVERLOAD_ENDS + MS, start + OVERLOAD_ENDS),
            "the overload is over"
        );
    }

    #[test]
    fn the_reader_reads_from_a_short_wait_and_what_it_passed_on_is_served() {
        let mut load = Load::default();
        let start = Instant::now();
        assert!(!load.refusing.reading());
        assert!(!load.arrived(READ_AFTER - MS, start, ReadBy::Controller));
        assert!(!load.refusing.reading(), "a wait short of the door's");
        assert!(!load.arrived(READ_AFTER, start, ReadBy::Controller));
        assert!(load.refusing.reading(), "the reader is at the door");
        assert!(!load.overloaded(start), "but no overload is on");
        // The overload is recognised on a call the reader passed on: it is
        // served; the reader refuses from now.
        let at = start + MS;
        assert!(!load.arrived(OVERLOADED_AFTER, at, ReadBy::Reader));
        assert!(load.overloaded(at));
        assert!(load.refusing.on(at + SHED_AGE, at));
        assert!(!load.arrived(SHED_AGE, at + MS, ReadBy::Reader));
        assert_eq!((load.episodes, load.shed), (1, 0));
        // Had the controller read it itself, it would refuse it.
        assert!(load.arrived(SHED_AGE, at + MS * 2, ReadBy::Controller));
        // A quiet spell ends both; the reader stops reading.
        let quiet = at + MS * 2 + OVERLOAD_ENDS;
        assert!(!load.arrived(Duration::ZERO, quiet, ReadBy::Reader));
        assert!(!load.overloaded(quiet));
        assert!(!load.refusing.reading());
        assert!(!load.refusing.on(quiet + SHED_AGE, quiet));
    }

    /// The reader over real sockets, its controller stalled (nothing takes
    /// what it passes on): during an overload it refuses a new call at
    /// once with 503 and `Retry-After: 1`, and passes on what is not one:
    /// a request in a dialog, a retransmission of a call passed on, a BYE.
    #[tokio::test]
    async fn a_stalled_controllers_reader_refuses_new_calls_and_passes_the_rest() {
        let socket = bind_sip("127.0.0.1:0".parse().expect("address")).expect("bind");
        let to = socket.local_addr().expect("address");
        let refusing = Arc::new(Refusing::default());
        let mut from_reader =
            Reader::start(&socket, &crate::config::Config::default(), refusing.clone())
                .expect("reader");
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        peer.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let send = |text: &str| peer.send_to(text.as_bytes(), to).expect("send");
        let passed = |from_reader: &mut tokio::sync::mpsc::Receiver<Datagram>| {
            let datagram = from_reader.try_recv().ok()?;
            String::from_utf8(datagram.bytes).ok()
        };
        // An overload, and the controller is stuck.
        let now = Instant::now();
        refusing.read(true);
        refusing.overloaded(Some(now + Duration::from_secs(60)));
        // The first new call goes to the controller (nothing waits for it
        // yet), and waits there; the next, once it waited, is refused.
        send(&invite("first", ""));
        let deadline = Instant::now() + Duration::from_secs(5);
        while from_reader.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(MS * 5).await;
        }
        tokio::time::sleep(SHED_AGE * 2).await;
        send(&invite("new", ""));
        let mut buf = [0u8; 2048];
        let (n, _) = peer.recv_from(&mut buf).expect("a 503");
        let answer = message::parse(buf.get(..n).expect("length")).expect("parse");
        assert_eq!(answer.status(), Some(503));
        assert_eq!(answer.header("Retry-After"), Some("1"));
        assert_eq!(answer.header("Call-ID"), Some("new"));
        assert!(answer.to_tag().is_some());
        // Not refused, passed on: a retransmission, a re-INVITE, a BYE.
        send(&invite("first", ""));
        send(&invite("dialog", ";tag=b2"));
        send("BYE sip:x@127.0.0.1 SIP/2.0\r\nCall-ID: bye\r\n\r\n");
        let deadline = Instant::now() + Duration::from_secs(5);
        while from_reader.len() < 4 && Instant::now() < deadline {
            tokio::time::sleep(MS * 5).await;
        }
        let mut seen = Vec::new();
        while let Some(text) = passed(&mut from_reader) {
            seen.push(text);
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen.first().is_some_and(|t| t.contains("Call-ID: first")));
        assert!(seen.get(1).is_some_and(|t| t.contains("Call-ID: first")));
        assert!(seen.get(2).is_some_and(|t| t.contains("Call-ID: dialog")));
        assert!(seen.get(3).is_some_and(|t| t.starts_with("BYE ")));
        assert_eq!(refusing.refused.load(Relaxed), 1);
        // The overload ends: the reader stops reading; what arrives stays
        // in the socket for the controller.
        refusing.read(false);
        tokio::time::sleep(MS * 50).await;
        send(&invite("after", ""));
        tokio::time::sleep(Duration::from_millis(u64::from(READER_IDLE)) * 2).await;
        assert!(from_reader.is_empty());
        socket.readable().await.expect("readable");
        let mut control = control_room();
        let received = try_receive(&socket, &mut buf, &mut control).expect("the INVITE");
        assert!(
            String::from_utf8_lossy(buf.get(..received.len).expect("length"))
                .contains("Call-ID: after")
        );
    }
}
