//! Cron triggers of a function: validated here (expression, time zone,
//! body, how often it may fire), computed here (the next slot after a
//! moment). Parsing and time-zone rules come from `croner` and
//! `chrono-tz`; nothing here reads the clock.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use croner::parser::{CronParser, Seconds};
use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// Most schedules one function may carry.
pub const MAX_SCHEDULES: usize = 10;
/// Largest request body a schedule sends.
pub const MAX_SCHEDULE_BODY: usize = 64 * 1024;
const NAME_MAX: usize = 40;
const CRON_MAX: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RawSchedule {
    /// Unique within the function: lowercase letters, digits and `-`, 1–40.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Cron expression: 5 fields (minute hour day-of-month month
    /// day-of-week), or 6 with seconds first; `L`, `W`, `#` and `@daily`
    /// style aliases work.
    #[cfg_attr(feature = "openapi", schema(example = "0 3 * * *"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// IANA time zone the expression is read in, e.g. `Europe/Paris`
    /// (default UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Body of the POST each run sends (up to 64 KiB); JSON is sent as
    /// `application/json`, anything else as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// A validated cron trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub name: String,
    pub cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

fn parser() -> CronParser {
    CronParser::builder().seconds(Seconds::Optional).build()
}

/// The time zone of a schedule: UTC when none is named.
fn zone(name: Option<&str>) -> Result<chrono_tz::Tz, String> {
    match name {
        None => Ok(chrono_tz::UTC),
        Some(z) => chrono_tz::Tz::from_str(z).map_err(|_| format!("unknown time zone {z:?}")),
    }
}

/// The first slot strictly after `after` (Unix ms).
fn next_in<Tz: TimeZone>(cron: &croner::Cron, tz: &Tz, after_ms: i64) -> Option<i64> {
    let after: DateTime<Tz> = tz.timestamp_millis_opt(after_ms).single()?;
    cron.find_next_occurrence(&after, false)
        .ok()
        .map(|t| t.timestamp_millis())
}

impl Schedule {
    /// The first slot strictly after `after_ms` (Unix ms); `None` when the
    /// expression never fires again.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let cron = parser().parse(&self.cron).ok()?;
        let tz = zone(self.time_zone.as_deref()).ok()?;
        next_in(&cron, &tz, after_ms)
    }

    /// The shortest time between two runs over the next 200 slots from a
    /// fixed moment (deterministic), in seconds.
    fn shortest_gap_seconds(cron: &croner::Cron, tz: &chrono_tz::Tz) -> Option<i64> {
        let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single()?;
        let mut at = start.timestamp_millis();
        let mut shortest: Option<i64> = None;
        for _ in 0..200 {
            let next = next_in(cron, tz, at)?;
            if at != start.timestamp_millis() {
                let gap = (next - at) / 1000;
                shortest = Some(shortest.map_or(gap, |s| s.min(gap)));
            }
            at = next;
        }
        shortest
    }
}

/// Validates a function's schedules: at most [`MAX_SCHEDULES`], unique
/// names, valid expressions and zones, bodies within the limit, and no two
/// runs closer than `min_interval_seconds`. Errors name the field, e.g.
/// `schedules[1].cron`.
pub fn parse_schedules(
    raw: Option<Vec<RawSchedule>>,
    min_interval_seconds: u32,
) -> Result<Vec<Schedule>, ValidationError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_SCHEDULES {
        return Err(ValidationError::new(
            "schedules",
            format!("at most {MAX_SCHEDULES} schedules per function"),
        ));
    }
    let mut out: Vec<Schedule> = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let field = |f: &str| format!("schedules[{i}].{f}");
        let name = r
            .name
            .ok_or_else(|| ValidationError::new(field("name"), "is required"))?;
        crate::ids::check_label(&field("name"), &name, NAME_MAX)?;
        if out.iter().any(|s| s.name == name) {
            return Err(ValidationError::new(
                field("name"),
                format!("{name:?} is used by another schedule"),
            ));
        }
        let cron_text = r
            .cron
            .ok_or_else(|| ValidationError::new(field("cron"), "is required"))?;
        if cron_text.len() > CRON_MAX {
            return Err(ValidationError::new(
                field("cron"),
                format!("must be at most {CRON_MAX} characters"),
            ));
        }
        let cron = parser().parse(cron_text.trim()).map_err(|e| {
            ValidationError::new(field("cron"), format!("invalid cron expression: {e}"))
        })?;
        let tz =
            zone(r.time_zone.as_deref()).map_err(|m| ValidationError::new(field("timeZone"), m))?;
        match Schedule::shortest_gap_seconds(&cron, &tz) {
            None => {
                return Err(ValidationError::new(
                    field("cron"),
                    "never fires (no upcoming time matches)",
                ))
            }
            Some(gap) if gap < i64::from(min_interval_seconds) => {
                return Err(ValidationError::new(
                    field("cron"),
                    format!(
                        "fires every {gap} s; the platform allows at most one run every {min_interval_seconds} s"
                    ),
                ))
            }
            Some(_) => {}
        }
        if let Some(b) = &r.body {
            if b.len() > MAX_SCHEDULE_BODY {
                return Err(ValidationError::new(
                    field("body"),
                    format!("must be at most {MAX_SCHEDULE_BODY} bytes"),
                ));
            }
        }
        out.push(Schedule {
            name,
            cron: cron_text.trim().to_string(),
            time_zone: r.time_zone,
            body: r.body,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(name: &str, cron: &str) -> RawSchedule {
        RawSchedule {
            name: Some(name.into()),
            cron: Some(cron.into()),
            ..RawSchedule::default()
        }
    }

    fn field_of(r: Vec<RawSchedule>, min: u32) -> String {
        parse_schedules(Some(r), min).unwrap_err().field
    }

    #[test]
    fn valid_schedules_keep_their_fields() {
        let s = parse_schedules(
            Some(vec![
                RawSchedule {
                    time_zone: Some("Europe/Paris".into()),
                    body: Some("{\"report\":true}".into()),
                    ..raw("nightly", "0 3 * * *")
                },
                raw("often", "*/5 * * * * *"),
            ]),
            1,
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].time_zone.as_deref(), Some("Europe/Paris"));
        assert_eq!(parse_schedules(None, 60).unwrap(), vec![]);
    }

    #[test]
    fn errors_name_the_schedule_and_field() {
        assert_eq!(
            field_of(vec![raw("a", "61 * * * *")], 60),
            "schedules[0].cron"
        );
        assert_eq!(
            field_of(vec![raw("a", "0 3 * * *"), raw("a", "0 4 * * *")], 60),
            "schedules[1].name"
        );
        assert_eq!(
            field_of(vec![raw("Bad_Name", "0 3 * * *")], 60),
            "schedules[0].name"
        );
        assert_eq!(
            field_of(
                vec![RawSchedule {
                    time_zone: Some("Mars/Olympus".into()),
                    ..raw("a", "0 3 * * *")
                }],
                60
            ),
            "schedules[0].timeZone"
        );
        assert_eq!(
            field_of(
                vec![RawSchedule {
                    body: Some("x".repeat(MAX_SCHEDULE_BODY + 1)),
                    ..raw("a", "0 3 * * *")
                }],
                60
            ),
            "schedules[0].body"
        );
        let many = (0..=MAX_SCHEDULES)
            .map(|i| raw(&format!("s{i}"), "0 3 * * *"))
            .collect();
        assert_eq!(field_of(many, 60), "schedules");
        assert_eq!(
            field_of(
                vec![RawSchedule {
                    cron: None,
                    ..raw("a", "")
                }],
                60
            ),
            "schedules[0].cron"
        );
    }

    #[test]
    fn the_minimum_interval_holds_for_every_gap() {
        // Every 5 s: refused under a 60 s minimum, accepted under 5 s.
        assert_eq!(
            field_of(vec![raw("a", "*/5 * * * * *")], 60),
            "schedules[0].cron"
        );
        assert!(parse_schedules(Some(vec![raw("a", "*/5 * * * * *")]), 5).is_ok());
        // Twice an hour, a minute apart: the short gap counts.
        assert_eq!(
            field_of(vec![raw("a", "0,1 * * * *")], 120),
            "schedules[0].cron"
        );
        assert!(parse_schedules(Some(vec![raw("a", "0 * * * *")]), 3600).is_ok());
    }

    #[test]
    fn the_next_slot_is_strictly_after_and_in_its_zone() {
        let s = Schedule {
            name: "a".into(),
            cron: "0 3 * * *".into(),
            time_zone: Some("Europe/Paris".into()),
            body: None,
        };
        // 2024-01-01T00:00Z is 01:00 in Paris: next 03:00 Paris = 02:00Z.
        let start = Utc
            .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp_millis();
        let next = s.next_after(start).unwrap();
        assert_eq!(
            next,
            Utc.with_ymd_and_hms(2024, 1, 1, 2, 0, 0)
                .unwrap()
                .timestamp_millis()
        );
        // Strictly after: a slot itself gives the following day's.
        assert_eq!(s.next_after(next).unwrap(), next + 86_400_000);
        let every5 = Schedule {
            cron: "*/5 * * * * *".into(),
            time_zone: None,
            ..s
        };
        assert_eq!(every5.next_after(start + 1).unwrap(), start + 5000);
    }
}
