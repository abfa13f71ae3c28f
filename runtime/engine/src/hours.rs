//! Business hours: is a schedule open at an instant? Evaluated in the
//! schedule's own time zone, so a DST change moves the hours with local time.

use crate::flow::FlowError;
use dialect_bytecode::{Exception, Schedule};
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

/// A schedule with its zone and dates parsed.
#[derive(Clone, Debug)]
pub struct Hours {
    /// The zone.
    pub zone: TimeZone,
    weekly: Vec<(u8, u32, u32)>,
    closed: Vec<(Date, Date)>,
    open: Vec<(Date, u32, u32)>,
}

fn date(schedule: &Schedule, text: &str) -> Result<Date, FlowError> {
    text.parse::<Date>().map_err(|_| FlowError::Date {
        schedule: schedule.name.clone(),
        date: text.to_string(),
    })
}

impl Hours {
    /// Parses a schedule.
    pub fn new(schedule: &Schedule) -> Result<Hours, FlowError> {
        let zone = TimeZone::get(&schedule.zone).map_err(|_| FlowError::Zone {
            schedule: schedule.name.clone(),
            zone: schedule.zone.clone(),
        })?;
        let mut closed = Vec::new();
        let mut open = Vec::new();
        for exception in &schedule.exceptions {
            match exception {
                Exception::Closed { from, to, .. } => {
                    closed.push((date(schedule, from)?, date(schedule, to)?))
                }
                Exception::Open {
                    date: day,
                    start,
                    end,
                    ..
                } => open.push((date(schedule, day)?, *start, *end)),
            }
        }
        Ok(Hours {
            zone,
            weekly: schedule.weekly.clone(),
            closed,
            open,
        })
    }

    /// Whether the schedule is open at `now`. A closed day wins over
    /// everything; a special opening replaces that day's weekly hours.
    pub fn is_open(&self, now: Timestamp) -> bool {
        let local = now.to_zoned(self.zone.clone());
        let day = local.date();
        let minute =
            u32::try_from(i32::from(local.hour()) * 60 + i32::from(local.minute())).unwrap_or(0);
        if self
            .closed
            .iter()
            .any(|(from, to)| *from <= day && day <= *to)
        {
            return false;
        }
        let specials: Vec<&(Date, u32, u32)> =
            self.open.iter().filter(|(d, _, _)| *d == day).collect();
        if !specials.is_empty() {
            return specials
                .iter()
                .any(|(_, start, end)| *start <= minute && minute < *end);
        }
        let weekday = local.weekday().to_monday_zero_offset();
        let bit = 1u8 << u8::try_from(weekday).unwrap_or(0);
        self.weekly
            .iter()
            .any(|(days, start, end)| days & bit != 0 && *start <= minute && minute < *end)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn office() -> Hours {
        Hours::new(&Schedule {
            name: "office".into(),
            zone: "Europe/Warsaw".into(),
            weekly: vec![(0b0001_1111, 8 * 60, 16 * 60)],
            exceptions: vec![
                Exception::Closed {
                    from: "2027-03-29".into(),
                    to: "2027-03-30".into(),
                    reason: None,
                },
                Exception::Open {
                    date: "2026-11-28".into(),
                    start: 10 * 60,
                    end: 12 * 60,
                    reason: None,
                },
            ],
        })
        .unwrap()
    }

    fn open_at(hours: &Hours, zoned: &str) -> bool {
        let at = if zoned.contains('[') {
            zoned.parse::<jiff::Zoned>().unwrap().timestamp()
        } else {
            zoned.parse::<Timestamp>().unwrap()
        };
        hours.is_open(at)
    }

    #[test]
    fn weekly_hours_by_local_time() {
        let h = office();
        assert!(open_at(&h, "2026-11-23T08:00:00[Europe/Warsaw]"));
        assert!(!open_at(&h, "2026-11-23T07:59:59[Europe/Warsaw]"));
        assert!(
            !open_at(&h, "2026-11-23T16:00:00[Europe/Warsaw]"),
            "the end is exclusive"
        );
        assert!(!open_at(&h, "2026-11-22T10:00:00[Europe/Warsaw]"), "Sunday");
    }

    #[test]
    fn dst_changes_move_with_local_time() {
        let h = office();
        // 2026-10-26 is the Monday after Warsaw left summer time (UTC+2 to UTC+1).
        assert!(open_at(&h, "2026-10-26T07:00:00Z"), "08:00 CET");
        assert!(!open_at(&h, "2026-10-26T06:59:00Z"), "07:59 CET");
        // 2027-03-29 is closed; 2027-03-31 is the Wednesday after summer time began.
        assert!(open_at(&h, "2027-03-31T06:00:00Z"), "08:00 CEST");
        assert!(!open_at(&h, "2027-03-31T05:59:00Z"), "07:59 CEST");
    }

    #[test]
    fn exceptions_win_over_weekly_hours() {
        let h = office();
        assert!(
            !open_at(&h, "2027-03-29T10:00:00[Europe/Warsaw]"),
            "closed Monday"
        );
        assert!(
            !open_at(&h, "2027-03-30T10:00:00[Europe/Warsaw]"),
            "closed Tuesday"
        );
        assert!(open_at(&h, "2027-03-31T10:00:00[Europe/Warsaw]"));
        // A special opening on a Saturday replaces the (empty) weekly hours.
        assert!(open_at(&h, "2026-11-28T10:30:00[Europe/Warsaw]"));
        assert!(!open_at(&h, "2026-11-28T12:00:00[Europe/Warsaw]"));
    }

    #[test]
    fn unknown_zone_and_bad_date_are_refused() {
        let bad_zone = Schedule {
            name: "x".into(),
            zone: "Mars/Olympus".into(),
            weekly: vec![],
            exceptions: vec![],
        };
        assert!(matches!(Hours::new(&bad_zone), Err(FlowError::Zone { .. })));
        let bad_date = Schedule {
            name: "x".into(),
            zone: "UTC".into(),
            weekly: vec![],
            exceptions: vec![Exception::Closed {
                from: "2026-02-30".into(),
                to: "2026-03-01".into(),
                reason: None,
            }],
        };
        assert!(matches!(Hours::new(&bad_date), Err(FlowError::Date { .. })));
    }
}
