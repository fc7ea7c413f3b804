//! Time conditions: when an `at` or `cron` condition next fires.
//!
//! Cron expressions take the common five fields (minute hour day-of-month month day-of-week) or six
//! and seven with seconds and year first/last, and are evaluated in the condition's IANA time zone
//! (UTC when none is given).

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use chrono_tz::Tz;

use crate::domain::trigger::TimeDependent;
use crate::domain::ValidationError;

/// A parsed time condition.
#[derive(Debug, Clone)]
pub enum Schedule {
    At(u64),
    Cron(Box<cron::Schedule>, Tz),
}

fn cron_expression(raw: &str) -> String {
    let fields = raw.split_whitespace().count();
    if fields == 5 {
        format!("0 {raw}")
    } else {
        raw.to_owned()
    }
}

impl Schedule {
    /// `field` is where the condition sits, e.g. `conditions.time_dependents[0]`.
    pub fn parse(td: &TimeDependent, field: &str) -> Result<Self, ValidationError> {
        match td {
            TimeDependent::At { time } => {
                let ms = u64::try_from(*time)
                    .ok()
                    .and_then(|s| s.checked_mul(1000))
                    .ok_or_else(|| ValidationError::new(format!("{field}.time"), "must be epoch seconds after 1970"))?;
                Ok(Schedule::At(ms))
            }
            TimeDependent::Cron { cron, timezone } => {
                let schedule = cron::Schedule::from_str(&cron_expression(cron)).map_err(|e| {
                    ValidationError::new(format!("{field}.cron"), format!("is not a valid cron expression: {e}"))
                })?;
                let tz = match timezone.as_deref() {
                    None | Some("") => Tz::UTC,
                    Some(name) => Tz::from_str(name).map_err(|_| {
                        ValidationError::new(format!("{field}.timezone"), format!("{name:?} is not an IANA time zone"))
                    })?,
                };
                Ok(Schedule::Cron(Box::new(schedule), tz))
            }
        }
    }

    /// The first firing strictly after `after_ms`, if any.
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        match self {
            Schedule::At(at) => (*at > after_ms).then_some(*at),
            Schedule::Cron(schedule, tz) => {
                let after = Utc.timestamp_millis_opt(i64::try_from(after_ms).ok()?).single()?.with_timezone(tz);
                let next = schedule.after(&after).next()?;
                u64::try_from(next.timestamp_millis()).ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> u64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis() as u64
    }

    fn cron(expr: &str, tz: Option<&str>) -> Result<Schedule, ValidationError> {
        Schedule::parse(&TimeDependent::Cron { cron: expr.into(), timezone: tz.map(Into::into) }, "c")
    }

    #[test]
    fn five_field_cron_runs_in_its_time_zone() {
        // 09:00 on weekdays in Sydney (UTC+11 in January) is 22:00 UTC the day before.
        let s = cron("0 9 * * Mon-Fri", Some("Australia/Sydney")).unwrap();
        let friday_noon_utc = ms("2030-01-04T12:00:00Z");
        assert_eq!(s.next_after(friday_noon_utc), Some(ms("2030-01-06T22:00:00Z")), "Monday 09:00 Sydney");
    }

    #[test]
    fn at_fires_once_in_the_future() {
        let s = Schedule::parse(&TimeDependent::At { time: 1_900_000_000 }, "t").unwrap();
        assert_eq!(s.next_after(0), Some(1_900_000_000_000));
        assert_eq!(s.next_after(1_900_000_000_000), None);
    }

    #[test]
    fn bad_expressions_and_zones_name_their_field() {
        assert_eq!(cron("every minute", None).unwrap_err().field, "c.cron");
        assert_eq!(cron("61 * * * *", None).unwrap_err().field, "c.cron");
        assert_eq!(cron("* * * * *", Some("Mars/Olympus")).unwrap_err().field, "c.timezone");
        assert!(cron("*/5 * * * * *", Some("Europe/Paris")).is_ok(), "six fields with seconds");
        let past = Schedule::parse(&TimeDependent::At { time: -5 }, "t").unwrap_err();
        assert_eq!(past.field, "t.time");
    }
}
