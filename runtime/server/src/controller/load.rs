//! The SIP socket over UDP, and load shedding by the time a datagram waited
//! in it.
//!
//! The kernel stamps each datagram as it arrives (`SO_TIMESTAMPNS`), so the
//! controller knows how long every datagram it reads has waited in the
//! socket's queue. That wait is the measure of load: a datagram read at
//! once means the controller keeps up, whatever the rate. A wait of
//! [`OVERLOADED_AFTER`] starts an overload; during it, a new call that has
//! waited [`SHED_AGE`] or more is refused with a stateless 503 (see
//! `front::shed`). Refusing is far cheaper than answering, so the queue
//! drains whenever the controller gets the CPU, and the calls taken are
//! the ones that did not wait; what belongs to calls already up (ACKs,
//! BYEs, re-INVITEs) is handled as ever. How promptly the refused are
//! refused depends on how often the controller is polled: at 6,000 new
//! calls a second on two cores shared with the caller and the media, a
//! little over half within 10 ms (README, "Performance"). The overload
//! ends after [`OVERLOAD_ENDS`] without a datagram that waited
//! [`SHED_AGE`].
//!
//! A stall of the machine (the controller's thread not scheduled for some
//! milliseconds) leaves a queue whose datagrams waited less than
//! [`OVERLOADED_AFTER`]; the next turns clear it, and nothing is refused.

use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

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

/// Reads what waits in the SIP socket into `buf`, without waiting:
/// `WouldBlock` when nothing does. `control` is the reused room for the
/// kernel's stamp.
#[cfg(target_os = "linux")]
pub(crate) fn try_receive(
    socket: &UdpSocket,
    buf: &mut [u8],
    control: &mut [u8],
) -> std::io::Result<Received> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrLike, SockaddrStorage};
    use std::os::fd::AsRawFd;
    socket.try_io(tokio::io::Interest::READABLE, || {
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
    })
}

/// Reads what waits in the SIP socket (no kernel stamps here: the wait
/// counts as zero, so nothing is shed).
#[cfg(not(target_os = "linux"))]
pub(crate) fn try_receive(
    socket: &UdpSocket,
    buf: &mut [u8],
    _control: &mut [u8],
) -> std::io::Result<Received> {
    let (len, from) = socket.try_recv_from(buf)?;
    Ok(Received {
        len,
        from,
        waited: Duration::ZERO,
    })
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

/// The upper bounds (ms) of [`Load::waits`]' buckets but the last.
pub(crate) const WAIT_BUCKETS: [u64; 5] = [1, 5, 10, 50, 100];

/// Whether the controller keeps up with its SIP socket.
#[derive(Debug, Default)]
pub(crate) struct Load {
    /// While overloaded: until when, unless a datagram waits
    /// [`SHED_AGE`] again.
    overloaded_until: Option<Instant>,
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
}

impl Load {
    /// A datagram that waited `waited` in the socket is handled at `now`:
    /// returns whether a new call in it is to be refused with 503.
    pub(crate) fn arrived(&mut self, waited: Duration, now: Instant) -> bool {
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
                    refused = self.shed,
                    "SIP input is arriving faster than it is handled: new calls get 503"
                );
            }
        }
        if waited >= SHED_AGE
            && let Some(until) = self.overloaded_until.as_mut()
        {
            *until = now + OVERLOAD_ENDS;
            return true;
        }
        false
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
            assert!(!load.arrived(OVERLOADED_AFTER - MS, start + MS * n));
        }
        assert_eq!(load.episodes, 0);
        assert!(!load.overloaded(start + MS * 1000));
    }

    #[test]
    fn an_overload_refuses_what_waited_and_takes_what_did_not() {
        let mut load = Load::default();
        let start = Instant::now();
        assert!(
            load.arrived(OVERLOADED_AFTER, start),
            "the datagram that started it is refused"
        );
        assert_eq!(load.episodes, 1);
        assert!(
            !load.arrived(SHED_AGE - MS, start + MS),
            "a datagram read at once is taken"
        );
        assert!(
            load.arrived(SHED_AGE, start + MS * 2),
            "one that waited is refused"
        );
        load.refused(SHED_AGE);
        load.refused(PROMPT);
        assert_eq!((load.shed, load.shed_promptly), (2, 1));
        // Waits keep coming: the overload goes on, one episode.
        for n in 3..2000 {
            load.arrived(SHED_AGE, start + MS * n);
        }
        assert!(load.overloaded(start + MS * 2000));
        assert_eq!(load.episodes, 1);
    }

    #[test]
    fn an_overload_ends_after_a_quiet_spell_and_a_stall_after_it_refuses_nothing() {
        let mut load = Load::default();
        let start = Instant::now();
        load.arrived(OVERLOADED_AFTER * 2, start);
        // Read at once from then on.
        let mut at = start;
        while at < start + OVERLOAD_ENDS {
            at += MS;
            load.arrived(Duration::ZERO, at);
        }
        assert!(!load.overloaded(at));
        // A stall after it: waits short of an overload are taken.
        assert!(!load.arrived(OVERLOADED_AFTER - MS, at + MS));
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
}
