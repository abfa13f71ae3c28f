//! The runtime's clock. The engine reads no clock; the server gives it "now"
//! from here. `--clock` starts it at a chosen instant so that operators can
//! rehearse business hours and holidays on a staging server; it then runs at
//! real speed from there.

use jiff::{SignedDuration, Timestamp};
use std::time::Instant;

/// Wall-clock time as the flows see it.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    origin: Instant,
    start: Timestamp,
}

impl Clock {
    /// The real time.
    pub fn system() -> Clock {
        Clock {
            origin: Instant::now(),
            start: Timestamp::now(),
        }
    }

    /// A clock that reads `start` now and runs forward at real speed.
    pub fn starting_at(start: Timestamp) -> Clock {
        Clock {
            origin: Instant::now(),
            start,
        }
    }

    /// The monotonic instant at which the clock read its start.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        self.at(Instant::now())
    }

    /// The monotonic instant of a wall time (the clock's start at the
    /// earliest).
    pub fn instant(&self, at: Timestamp) -> Instant {
        let since = at.duration_since(self.start);
        let since = std::time::Duration::try_from(since).unwrap_or(std::time::Duration::ZERO);
        self.origin + since
    }

    /// The wall time of a monotonic instant.
    pub fn at(&self, instant: Instant) -> Timestamp {
        let elapsed = instant.saturating_duration_since(self.origin);
        let elapsed = SignedDuration::try_from(elapsed).unwrap_or(SignedDuration::ZERO);
        self.start.saturating_add(elapsed).unwrap_or(self.start)
    }
}

/// Parses `--clock`: RFC 3339 (`2026-12-24T10:00:00+01:00`) or a zoned time
/// (`2026-12-24T10:00:00[Europe/Warsaw]`).
pub fn parse(text: &str) -> Result<Timestamp, String> {
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    text.parse::<jiff::Zoned>().map(|z| z.timestamp()).map_err(|_| {
        format!("`{text}` is not a time: write it like 2026-12-24T10:00:00+01:00 or 2026-12-24T10:00:00[Europe/Warsaw]")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_started_clock_reads_its_start_and_runs_forward() {
        let start = parse("2026-12-24T10:00:00+01:00").unwrap();
        let clock = Clock::starting_at(start);
        let later = clock.at(Instant::now() + std::time::Duration::from_secs(90));
        assert!(later >= start.saturating_add(SignedDuration::from_secs(90)).unwrap());
        assert_eq!(parse("2026-12-24T10:00:00[Europe/Warsaw]").unwrap(), start);
        assert!(parse("Christmas").unwrap_err().contains("not a time"));
    }
}
