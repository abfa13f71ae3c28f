//! RTP ports and their sockets, kept bound between calls.
//!
//! Binding a socket for each call and closing it after (socket, bind, the
//! registration with the runtime's poller, then deregistration and close)
//! was a tenth of the CPU a short call costs. So a leg's socket is not
//! closed when the call ends: [`MediaSocket`] goes back to [`Ports`] when it
//! is dropped, whoever drops it (the leg's task, an error path, a failed
//! agent leg), and the next call takes it. The port is owned with the
//! socket: it is free again exactly when the socket is back, never while a
//! leg still holds it.
//!
//! A returned socket rests [`QUARANTINE`] before another call takes it (its
//! last peer may still be sending), and whatever arrived meanwhile is read
//! and thrown away when it is taken, so nothing of one call reaches the
//! next. At most [`SPARE_MAX`] sockets are kept; beyond that they are
//! closed and their ports go back to the queue of unbound ports.
//!
//! Each RTP port is even and comes with its RTCP socket on the port above
//! (RFC 3550 §11): the pair is bound, kept and freed together.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

/// How long a returned socket rests before another call takes it (unless no
/// other port is left).
pub const QUARANTINE: Duration = Duration::from_secs(1);

/// The most bound sockets kept between calls: at 3,000 calls a second, a
/// second's worth of them.
pub const SPARE_MAX: usize = 4_096;

/// Datagrams read away from a resting socket before it is taken; one with
/// more waiting is closed instead.
const STALE_MAX: usize = 64;

/// Sockets dropped since the controller last looked: the port, RTP and RTCP.
type Returns = Arc<Mutex<Vec<(u16, UdpSocket, Option<UdpSocket>)>>>;

/// A bound RTP socket and its port. Dropping it gives both back to
/// [`Ports`].
pub struct MediaSocket {
    port: u16,
    socket: Option<UdpSocket>,
    /// RTCP's socket, on the port above.
    rtcp: Option<UdpSocket>,
    home: Returns,
}

impl MediaSocket {
    /// The port it is bound to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// RTCP's socket (on the port above), when the pair has one.
    pub fn rtcp(&self) -> Option<&UdpSocket> {
        self.rtcp.as_ref()
    }

    /// A socket outside any pool (tests): dropping it closes it.
    pub fn unpooled(socket: UdpSocket) -> MediaSocket {
        let port = socket.local_addr().map_or(0, |a| a.port());
        MediaSocket {
            port,
            socket: Some(socket),
            rtcp: None,
            home: Returns::default(),
        }
    }
}

impl std::ops::Deref for MediaSocket {
    type Target = UdpSocket;

    fn deref(&self) -> &UdpSocket {
        // Only `Drop` takes the socket out.
        #[allow(clippy::expect_used)]
        self.socket
            .as_ref()
            .expect("a MediaSocket holds its socket until dropped")
    }
}

impl Drop for MediaSocket {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            self.home
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push((self.port, socket, self.rtcp.take()));
        }
    }
}

impl std::fmt::Debug for MediaSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaSocket")
            .field("port", &self.port)
            .finish()
    }
}

/// The RTP ports of the configured range (even numbers): unbound ones in
/// the order they were freed, and bound ones resting between calls.
pub struct Ports {
    address: IpAddr,
    free: VecDeque<u16>,
    spare: VecDeque<(Instant, u16, UdpSocket, Option<UdpSocket>)>,
    returns: Returns,
    total: usize,
}

impl Ports {
    /// The even ports from `min` to `max` whose RTCP port (the one above)
    /// is in the range too, bound on `address`.
    pub fn new(address: IpAddr, min: u16, max: u16) -> Ports {
        let free: VecDeque<u16> = (min..max).filter(|p| p % 2 == 0).collect();
        let total = free.len();
        Ports {
            address,
            free,
            spare: VecDeque::new(),
            returns: Returns::default(),
            total,
        }
    }

    /// Ports held by calls.
    pub fn in_use(&self) -> usize {
        let returned = self
            .returns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        self.total - self.free.len() - self.spare.len() - returned
    }

    /// Sockets resting between calls.
    pub fn spare(&self) -> usize {
        self.spare.len()
    }

    /// A socket for a new leg: a rested one, else a newly bound port. A
    /// port something else holds (the range overlaps the system's
    /// ephemeral ports) goes to the back of the queue and the next is
    /// tried, a few times. Needs the tokio runtime.
    pub fn take(&mut self, now: Instant) -> Option<MediaSocket> {
        self.collect(now);
        while self
            .spare
            .front()
            .is_some_and(|(since, ..)| now.saturating_duration_since(*since) >= QUARANTINE)
        {
            if let Some((_, port, socket, rtcp)) = self.spare.pop_front()
                && let Some(socket) = self.rested(port, socket, rtcp)
            {
                return Some(socket);
            }
        }
        if let Some(socket) = self.bind_free() {
            return Some(socket);
        }
        // Every port is taken or resting: a resting socket, rested or not,
        // is better than refusing the call.
        while let Some((_, port, socket, rtcp)) = self.spare.pop_front() {
            if let Some(socket) = self.rested(port, socket, rtcp) {
                return Some(socket);
            }
        }
        // Those found flooded were closed and their ports freed.
        self.bind_free()
    }

    fn bind_free(&mut self) -> Option<MediaSocket> {
        for _ in 0..16 {
            let port = self.free.pop_front()?;
            match self.bind(port) {
                Ok(socket) => return Some(socket),
                Err(_) => self.free.push_back(port),
            }
        }
        None
    }

    /// Takes in the sockets dropped since the last look; their rest counts
    /// from now (a socket dropped earlier rests longer, never shorter).
    fn collect(&mut self, now: Instant) {
        let returned =
            std::mem::take(&mut *self.returns.lock().unwrap_or_else(PoisonError::into_inner));
        for (port, socket, rtcp) in returned {
            if self.spare.len() < SPARE_MAX {
                self.spare.push_back((now, port, socket, rtcp));
            } else {
                drop((socket, rtcp));
                self.free.push_back(port);
            }
        }
    }

    /// A resting socket, emptied of what arrived while it rested; closed
    /// (its port freed) when more than [`STALE_MAX`] datagrams wait or it
    /// fails.
    fn rested(
        &mut self,
        port: u16,
        socket: UdpSocket,
        rtcp: Option<UdpSocket>,
    ) -> Option<MediaSocket> {
        if emptied(&socket) && rtcp.as_ref().is_none_or(emptied) {
            return Some(self.wrap(port, socket, rtcp));
        }
        drop((socket, rtcp));
        self.free.push_back(port);
        None
    }

    fn bind(&self, port: u16) -> std::io::Result<MediaSocket> {
        let bind = |port: u16| -> std::io::Result<UdpSocket> {
            let socket = std::net::UdpSocket::bind(SocketAddr::new(self.address, port))?;
            socket.set_nonblocking(true)?;
            UdpSocket::from_std(socket)
        };
        let socket = bind(port)?;
        let rtcp = bind(
            port.checked_add(1)
                .ok_or(std::io::ErrorKind::AddrNotAvailable)?,
        )?;
        Ok(self.wrap(port, socket, Some(rtcp)))
    }

    fn wrap(&self, port: u16, socket: UdpSocket, rtcp: Option<UdpSocket>) -> MediaSocket {
        MediaSocket {
            port,
            socket: Some(socket),
            rtcp,
            home: self.returns.clone(),
        }
    }
}

/// Reads away what arrived on a resting socket; false when more than
/// [`STALE_MAX`] datagrams wait or it fails (it is closed then).
fn emptied(socket: &UdpSocket) -> bool {
    let mut buf = [0u8; 1500];
    for _ in 0..STALE_MAX {
        match socket.try_recv_from(&mut buf) {
            Ok(_) => continue,
            Err(e) => return e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn localhost() -> IpAddr {
        IpAddr::from([127, 0, 0, 1])
    }

    fn assert_nothing_waits(socket: &MediaSocket) {
        let mut buf = [0u8; 64];
        let waiting = socket.try_recv_from(&mut buf);
        assert_eq!(
            waiting.map(|_| ()).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
    }

    /// A free range of `n` even ports on loopback (probed by binding),
    /// from `from` on: each test probes its own stretch, as tests run in
    /// parallel, below the default media range (20000-29999) and the
    /// system's ephemeral ports (32768 on), which other tests bind.
    fn free_range(n: u16, from: u16) -> (u16, u16) {
        for base in (from..from + 2_000).step_by(100) {
            let all_free =
                (0..n).all(|i| std::net::UdpSocket::bind((localhost(), base + 2 * i)).is_ok());
            if all_free {
                return (base, base + 2 * n - 1);
            }
        }
        panic!("no free port range on loopback")
    }

    #[tokio::test]
    async fn a_dropped_socket_rests_then_serves_the_next_call_without_what_arrived_meanwhile() {
        let (min, max) = free_range(2, 12_000);
        let mut ports = Ports::new(localhost(), min, max);
        let t0 = Instant::now();
        let first = ports.take(t0).unwrap();
        let port = first.port();
        assert_eq!(ports.in_use(), 1);
        drop(first);
        // A late packet from the last call's peer.
        let peer = std::net::UdpSocket::bind((localhost(), 0)).unwrap();
        peer.send_to(b"late rtp", (localhost(), port)).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        // Resting: the next call gets the other port, newly bound.
        let second = ports.take(t0).unwrap();
        assert_ne!(second.port(), port);
        assert_eq!((ports.spare(), ports.in_use()), (1, 1));

        // Rested: the same socket again (the port stays bound), empty.
        let third = ports.take(t0 + QUARANTINE).unwrap();
        assert_eq!(third.port(), port);
        assert_nothing_waits(&third);
        let mut buf = [0u8; 64];
        // It still works: a packet sent now arrives.
        peer.send_to(b"new call", (localhost(), port)).unwrap();
        let (n, _) = third.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"new call");
        assert_eq!(ports.in_use(), 2);
        assert!(
            ports.take(t0 + QUARANTINE).is_none(),
            "two ports, both held"
        );
        drop((second, third));
        assert!(ports.take(t0 + QUARANTINE * 2).is_some());
    }

    #[tokio::test]
    async fn with_every_port_held_a_resting_socket_is_taken_at_once() {
        let (min, max) = free_range(1, 14_000);
        let mut ports = Ports::new(localhost(), min, max);
        let t0 = Instant::now();
        drop(ports.take(t0).unwrap());
        let again = ports.take(t0).unwrap();
        assert_eq!(again.port(), min);
        assert_eq!(ports.in_use(), 1);
    }

    #[tokio::test]
    async fn a_socket_flooded_while_resting_is_closed_and_its_port_bound_anew() {
        let (min, max) = free_range(1, 16_000);
        let mut ports = Ports::new(localhost(), min, max);
        let t0 = Instant::now();
        drop(ports.take(t0).unwrap());
        let peer = std::net::UdpSocket::bind((localhost(), 0)).unwrap();
        for _ in 0..STALE_MAX + 10 {
            peer.send_to(b"flood", (localhost(), min)).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Collected, then found flooded when taken: closed, its port bound
        // again from the queue, and the new socket holds nothing.
        let fresh = ports.take(t0 + QUARANTINE).unwrap();
        assert_eq!(fresh.port(), min);
        assert_nothing_waits(&fresh);
    }
}
