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
