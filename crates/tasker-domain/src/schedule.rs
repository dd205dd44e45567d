//! Schedules: a task created at each fire time of a cron expression, in a time zone.
//!
//! Pure, like the rest of the crate: callers pass `now`. Parsing a schedule definition (from
//! the `schedules` option of `createWorker`, as JSON, or from a YAML file) checks every field
//! and names the schedule and the field in its message. Cron expressions are parsed by
//! `croner` (5 fields, or 6 with seconds first), time zones by `chrono-tz` (IANA names).
//!
//! Which fire times create a task is decided here too ([`due_fire_times`], [`Missed`]): a
//! schedule remembers the last fire time it handled, and every fire time after that one up to
//! now is due; the missed-fire policy picks the ones that run.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;
use serde_json::{Map, Value};

use crate::text::echo;

/// The task version a schedule creates when its `task` names none (as `createTask`).
pub const DEFAULT_TASK_VERSION: &str = "1.0.0";
/// The most fire times one wake-up creates tasks for under `missed: 'all'` (the latest ones).
pub const MAX_MISSED_FIRES: usize = 100;
/// Under `missed: 'skip'`, a fire time runs only if it is found due at most this long after it.
pub const SKIP_GRACE_MS: i64 = 60_000;
/// The longest schedule name accepted.
pub const MAX_SCHEDULE_NAME_CHARS: usize = 200;
/// The largest schedules file accepted.
pub const MAX_SCHEDULES_FILE_BYTES: u64 = 1024 * 1024;

/// What happens to fire times that passed while no worker with the schedule was running (or
/// while its database was unreachable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Missed {
    /// Create one task, for the latest fire time that passed (the default).
    #[default]
    Latest,
    /// Create none for fire times found due more than [`SKIP_GRACE_MS`] late.
    Skip,
    /// Create one task per fire time that passed, the latest [`MAX_MISSED_FIRES`] of them.
    All,
}

impl Missed {
    pub fn as_str(self) -> &'static str {
        match self {
            Missed::Latest => "latest",
            Missed::Skip => "skip",
            Missed::All => "all",
        }
    }
}

impl FromStr for Missed {
    type Err = String;
    fn from_str(s: &str) -> Result<Missed, String> {
        match s {
            "latest" => Ok(Missed::Latest),
            "skip" => Ok(Missed::Skip),
            "all" => Ok(Missed::All),
            other => Err(format!(
                "unknown missed-fire policy '{}' (expected 'latest', 'skip' or 'all')",
                echo(other)
            )),
        }
    }
}

/// A schedule as defined by its worker: valid cron expression and time zone, context a JSON
/// object (as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSpec {
    pub name: String,
    pub cron: String,
    /// An IANA time zone name (`UTC` unless given).
    pub timezone: String,
    pub namespace: String,
    pub task_name: String,
    pub version: String,
    /// JSON text of the context of every task the schedule creates (an object).
    pub context: String,
    pub missed: Missed,
}

impl ScheduleSpec {
    /// `namespace/name@version` of the task it creates.
    pub fn task_key(&self) -> String {
        format!(
            "{}/{}@{}",
            echo(&self.namespace),
            echo(&self.task_name),
            echo(&self.version)
        )
    }
}

/// A parsed cron expression in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    tz: Tz,
}

impl CronSchedule {
    /// Parse `cron` (5 fields: minute hour day-of-month month day-of-week; or 6, with seconds
    /// first) and `timezone` (an IANA name). The error is the reason, without the field.
    pub fn parse(cron: &str, timezone: &str) -> Result<CronSchedule, CronProblem> {
        let tz = parse_timezone(timezone).ok_or(CronProblem::Timezone)?;
        let fields = cron.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(CronProblem::Cron(format!(
                "it has {fields} field{}; expected 5 (minute hour day-of-month month \
                 day-of-week) or 6 (with seconds first)",
                if fields == 1 { "" } else { "s" }
            )));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let parsed = parser
            .parse(cron)
            .map_err(|e| CronProblem::Cron(with_field(&parser, cron, e.to_string())))?;
        let schedule = CronSchedule { cron: parsed, tz };
        // Without years the fire times repeat within 400 years, so one after 1970 exists
        // unless no date matches at all (`0 0 30 2 *`).
        if schedule.next_after(0).is_none() {
            return Err(CronProblem::Cron(
                "it never fires (no date matches it)".to_string(),
            ));
        }
        Ok(schedule)
    }

    /// `ms` cut to its whole second (fire times are whole seconds), in the time zone.
    fn at(&self, ms: i64) -> Option<DateTime<Tz>> {
        Utc.timestamp_millis_opt(ms - ms.rem_euclid(1000))
            .single()
            .map(|t| t.with_timezone(&self.tz))
    }

    /// The first fire time strictly after `ms` (`None` if there is none within the parser's
    /// search limit).
    pub fn next_after(&self, ms: i64) -> Option<i64> {
        let t = self.at(ms)?;
        self.cron
            .find_next_occurrence(&t, false)
            .ok()
            .map(|t| t.timestamp_millis())
            .filter(|next| *next > ms)
    }

    /// The latest fire time at or before `ms`.
    pub fn latest_at_or_before(&self, ms: i64) -> Option<i64> {
        let t = self.at(ms)?;
        self.cron
            .find_previous_occurrence(&t, true)
            .ok()
            .map(|t| t.timestamp_millis())
            .filter(|prev| *prev <= ms)
    }
}

/// The parser's reason, and the field it is about when one field alone is at fault (the
/// parser does not say which): the first field that, replaced by `*`, makes the expression
/// parse.
fn with_field(parser: &CronParser, cron: &str, reason: String) -> String {
    const FIVE: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    let fields: Vec<&str> = cron.split_whitespace().collect();
    let names: Vec<&str> = if fields.len() == 6 {
        std::iter::once("second").chain(FIVE).collect()
    } else {
        FIVE.to_vec()
    };
    for (i, field) in fields.iter().enumerate() {
        let mut fixed = fields.clone();
        fixed[i] = "*";
        if parser.parse(&fixed.join(" ")).is_ok() {
            return format!("{reason} (the {} field, '{}')", names[i], echo(field));
        }
    }
    reason
}

/// Why a cron expression or time zone was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CronProblem {
    /// The expression, with the parser's reason.
    Cron(String),
    Timezone,
}

fn parse_timezone(name: &str) -> Option<Tz> {
    Tz::from_str(name).ok()
}

/// The fire times after `after` and at or before `now`, oldest first, at most `limit` of them
/// (the latest ones).
pub fn due_fire_times(schedule: &CronSchedule, after: i64, now: i64, limit: usize) -> Vec<i64> {
    let mut due = Vec::new();
    let mut at = now;
    while due.len() < limit {
        match schedule.latest_at_or_before(at) {
            Some(t) if t > after => {
                due.push(t);
                at = t - 1;
            }
            _ => break,
        }
    }
    due.reverse();
    due
}

/// Of the due fire times (oldest first, as [`due_fire_times`] returns them), those that create
/// a task under `missed`, found due at `now`.
pub fn fires_for(missed: Missed, due: &[i64], now: i64) -> Vec<i64> {
    let Some(&latest) = due.last() else {
        return Vec::new();
    };
    match missed {
        Missed::Latest => vec![latest],
        Missed::All => due.to_vec(),
        Missed::Skip if now - latest <= SKIP_GRACE_MS => vec![latest],
        Missed::Skip => Vec::new(),
    }
}

/// A schedule definition that is not valid, with a message naming where it came from, the
/// schedule and the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

/// Schedules given as a JSON array (the `schedules` option of `createWorker`); `source` names
/// them in messages.
pub fn parse_schedules_json(json: &str, source: &str) -> Result<Vec<ScheduleSpec>, ScheduleError> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| ScheduleError(format!("{source}: not valid JSON: {e}")))?;
    parse_schedule_list(&value, source)
}

/// Schedules from a YAML file with a `schedules:` list (see docs/schedules.md).
pub fn load_schedules(path: &Path) -> Result<Vec<ScheduleSpec>, ScheduleError> {
    let source = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| ScheduleError(format!("{source}: cannot read the schedules file: {e}")))?;
    if meta.len() > MAX_SCHEDULES_FILE_BYTES {
        return Err(ScheduleError(format!(
            "{source}: the schedules file is {} bytes; at most {MAX_SCHEDULES_FILE_BYTES} are \
             accepted",
            meta.len()
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ScheduleError(format!("{source}: cannot read the schedules file: {e}")))?;
    let value: Value = serde_yaml::from_str(&text)
        .map_err(|e| ScheduleError(format!("{source}: not valid YAML: {e}")))?;
    let Value::Object(mut top) = value else {
        return Err(ScheduleError(format!(
            "{source}: expected a mapping with a 'schedules' list, got {}",
            kind(&value)
        )));
    };
    if let Some(other) = top.keys().find(|k| k.as_str() != "schedules") {
        return Err(ScheduleError(format!(
            "{source}: unknown top-level key '{}' (a schedules file has only 'schedules')",
            echo(other)
        )));
    }
    let list = top.remove("schedules").ok_or_else(|| {
        ScheduleError(format!(
            "{source}: expected a mapping with a 'schedules' list"
        ))
    })?;
    parse_schedule_list(&list, &source)
}

/// Refuse a name used twice across several lists (`(source, specs)`), naming both sources.
pub fn check_unique_names(lists: &[(&str, &[ScheduleSpec])]) -> Result<(), ScheduleError> {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for (source, specs) in lists {
        for s in specs.iter() {
            if let Some((first, _)) = seen.iter().find(|(_, n)| *n == s.name) {
                return Err(ScheduleError(format!(
                    "{source}: schedule '{}' is defined twice (also in {first}); schedule names \
                     must be unique",
                    echo(&s.name)
                )));
            }
            seen.push((source, &s.name));
        }
    }
    Ok(())
}

fn parse_schedule_list(value: &Value, source: &str) -> Result<Vec<ScheduleSpec>, ScheduleError> {
    let Value::Array(items) = value else {
        return Err(ScheduleError(format!(
            "{source}: schedules must be a list, got {}",
            kind(value)
        )));
    };
    let mut specs = Vec::with_capacity(items.len());
    let mut names = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let spec = parse_one(item, &format!("{source}: schedules[{i}]"))?;
        if !names.insert(spec.name.clone()) {
            return Err(ScheduleError(format!(
                "{source}: schedules[{i}]: schedule '{}' is defined twice; schedule names must \
                 be unique",
                echo(&spec.name)
            )));
        }
        specs.push(spec);
    }
    Ok(specs)
}

const FIELDS: &[&str] = &["name", "cron", "timezone", "task", "context", "missed"];
const TASK_FIELDS: &[&str] = &["namespace", "name", "version"];

fn parse_one(item: &Value, at: &str) -> Result<ScheduleSpec, ScheduleError> {
    let err = |m: String| ScheduleError(m);
    let Value::Object(fields) = item else {
        return Err(err(format!(
            "{at}: expected an object with name, cron and task, got {}",
            kind(item)
        )));
    };
    let name = match fields.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Value::String(_)) => return Err(err(format!("{at}: name must not be empty"))),
        Some(other) => {
            return Err(err(format!(
                "{at}: name must be a string, got {}",
                kind(other)
            )))
        }
        None => return Err(err(format!("{at}: name is required"))),
    };
    if name.chars().count() > MAX_SCHEDULE_NAME_CHARS {
        return Err(err(format!(
            "{at}: name '{}' is longer than {MAX_SCHEDULE_NAME_CHARS} characters",
            echo(&name)
        )));
    }
    let at = format!("{at} ('{}')", echo(&name));
    unknown_fields(fields, FIELDS, &at, "")?;
    let cron = required_string(fields, "cron", &at, "")?;
    let timezone = optional_string(fields, "timezone", &at, "")?.unwrap_or_else(|| "UTC".into());
    match CronSchedule::parse(&cron, &timezone) {
        Ok(_) => {}
        Err(CronProblem::Timezone) => {
            return Err(err(format!(
                "{at}: timezone '{}' is not a known time zone; use an IANA name such as \
                 'UTC' or 'Europe/Berlin'",
                echo(&timezone)
            )))
        }
        Err(CronProblem::Cron(reason)) => {
            return Err(err(format!(
                "{at}: cron '{}' is not a valid cron expression: {reason}",
                echo(&cron)
            )))
        }
    }
    let task = match fields.get("task") {
        Some(Value::Object(task)) => task,
        Some(other) => {
            return Err(err(format!(
                "{at}: task must be an object with namespace, name and version?, got {}",
                kind(other)
            )))
        }
        None => {
            return Err(err(format!(
                "{at}: task is required ({{ namespace, name, version? }})"
            )))
        }
    };
    unknown_fields(task, TASK_FIELDS, &at, "task.")?;
    let namespace = required_string(task, "namespace", &at, "task.")?;
    let task_name = required_string(task, "name", &at, "task.")?;
    let version = optional_string(task, "version", &at, "task.")?
        .unwrap_or_else(|| DEFAULT_TASK_VERSION.to_string());
    let context = match fields.get("context") {
        None | Some(Value::Null) => "{}".to_string(),
        Some(v @ Value::Object(_)) => v.to_string(),
        Some(other) => {
            return Err(err(format!(
                "{at}: context must be an object, got {}",
                kind(other)
            )))
        }
    };
    let missed = match optional_string(fields, "missed", &at, "")? {
        None => Missed::default(),
        Some(s) => s
            .parse::<Missed>()
            .map_err(|e| err(format!("{at}: missed: {e}")))?,
    };
    Ok(ScheduleSpec {
        name,
        cron,
        timezone,
        namespace,
        task_name,
        version,
        context,
        missed,
    })
}

fn unknown_fields(
    fields: &Map<String, Value>,
    known: &[&str],
    at: &str,
    prefix: &str,
) -> Result<(), ScheduleError> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(ScheduleError(format!(
            "{at}: unknown field '{prefix}{}' (expected {})",
            echo(k),
            known
                .iter()
                .map(|f| format!("{prefix}{f}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        None => Ok(()),
    }
}

fn required_string(
    fields: &Map<String, Value>,
    field: &str,
    at: &str,
    prefix: &str,
) -> Result<String, ScheduleError> {
    optional_string(fields, field, at, prefix)?
        .ok_or_else(|| ScheduleError(format!("{at}: {prefix}{field} is required")))
}

fn optional_string(
    fields: &Map<String, Value>,
    field: &str,
    at: &str,
    prefix: &str,
) -> Result<Option<String>, ScheduleError> {
    match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.clone())),
        Some(Value::String(_)) => Err(ScheduleError(format!(
            "{at}: {prefix}{field} must not be empty"
        ))),
        Some(other) => Err(ScheduleError(format!(
            "{at}: {prefix}{field} must be a string, got {}",
            kind(other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-03T11:00:00Z.
    const T0: i64 = 1_796_295_600_000;

    fn utc(cron: &str) -> CronSchedule {
        CronSchedule::parse(cron, "UTC").expect("valid")
    }

    #[test]
    fn five_fields_fire_on_minutes() {
        let s = utc("*/5 * * * *");
        assert_eq!(s.next_after(T0), Some(T0 + 5 * 60_000));
        assert_eq!(s.next_after(T0 + 1), Some(T0 + 5 * 60_000));
        assert_eq!(s.latest_at_or_before(T0), Some(T0));
        assert_eq!(s.latest_at_or_before(T0 + 299_999), Some(T0));
    }

    #[test]
    fn six_fields_fire_on_seconds() {
        let s = utc("*/2 * * * * *");
        assert_eq!(s.next_after(T0), Some(T0 + 2_000));
        assert_eq!(s.next_after(T0 + 500), Some(T0 + 2_000));
        assert_eq!(s.latest_at_or_before(T0 + 3_999), Some(T0 + 2_000));
    }

    #[test]
    fn time_zones_move_fire_times() {
        // 09:00 in Berlin is 08:00 UTC in winter.
        let s = CronSchedule::parse("0 9 * * *", "Europe/Berlin").expect("valid");
        let next = s.next_after(T0).expect("a next fire");
        assert_eq!(next, T0 + 21 * 3_600_000);
    }

    /// Milliseconds of a UTC date and time.
    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("a valid time")
            .timestamp_millis()
    }

    fn iso(ms: i64) -> String {
        Utc.timestamp_millis_opt(ms)
            .single()
            .map_or_else(String::new, |t| t.to_rfc3339())
    }

    #[test]
    fn daylight_saving_changes() {
        let s = CronSchedule::parse("30 2 * * *", "Europe/Berlin").expect("valid");
        // 2026-03-29 has no 02:30 in Berlin (02:00 CET becomes 03:00 CEST): it fires once,
        // after the change, then on 2026-03-30 at 02:30 CEST (00:30 UTC).
        let spring = s.next_after(at(2026, 3, 28, 12, 0)).expect("a fire");
        assert!(
            spring >= at(2026, 3, 29, 1, 0) && spring < at(2026, 3, 29, 2, 0),
            "spring: {}",
            iso(spring)
        );
        assert_eq!(s.next_after(spring), Some(at(2026, 3, 30, 0, 30)));
        // 2026-10-25 has 02:30 twice (CEST, then CET): it fires once.
        let autumn = s.next_after(at(2026, 10, 24, 12, 0)).expect("a fire");
        let after = s.next_after(autumn).expect("a fire");
        assert_eq!(after, at(2026, 10, 26, 1, 30), "first: {}", iso(autumn));
    }

    #[test]
    fn day_of_month_or_day_of_week() {
        // The 1st of the month or any Monday (Vixie cron): 2026-12-07 is a Monday.
        let s = utc("0 0 1 * MON");
        assert_eq!(s.next_after(T0), Some(at(2026, 12, 7, 0, 0)));
        assert_eq!(
            s.next_after(at(2026, 12, 28, 0, 0)),
            Some(at(2027, 1, 1, 0, 0))
        );
    }

    #[test]
    fn bad_expressions_and_zones_say_why() {
        match CronSchedule::parse("0 25 * * *", "UTC") {
            Err(CronProblem::Cron(m)) => assert!(m.ends_with(" (the hour field, '25')"), "{m}"),
            other => panic!("{other:?}"),
        }
        match CronSchedule::parse("0 0 30 2 *", "UTC") {
            Err(CronProblem::Cron(m)) => assert_eq!(m, "it never fires (no date matches it)"),
            other => panic!("{other:?}"),
        }
        match CronSchedule::parse("*/5 0 * * * FOO", "UTC") {
            Err(CronProblem::Cron(m)) => {
                assert!(m.ends_with(" (the day-of-week field, 'FOO')"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            CronSchedule::parse("61 * * * *", "UTC"),
            Err(CronProblem::Cron(_))
        ));
        match CronSchedule::parse("* * *", "UTC") {
            Err(CronProblem::Cron(m)) => assert!(m.contains("it has 3 fields"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            CronSchedule::parse("* * * * *", "Mars/Olympus").err(),
            Some(CronProblem::Timezone)
        );
    }

    #[test]
    fn due_fire_times_are_bounded_and_oldest_first() {
        let s = utc("* * * * *");
        assert_eq!(
            due_fire_times(&s, T0, T0 + 3 * 60_000 + 5, 100),
            vec![T0 + 60_000, T0 + 120_000, T0 + 180_000]
        );
        // `after` itself was handled already.
        assert!(due_fire_times(&s, T0, T0 + 59_999, 100).is_empty());
        assert_eq!(
            due_fire_times(&s, T0, T0 + 10 * 60_000, 2),
            vec![T0 + 9 * 60_000, T0 + 10 * 60_000]
        );
    }

    #[test]
    fn missed_policies() {
        let due = [T0, T0 + 60_000, T0 + 120_000];
        let now = T0 + 120_000 + 10;
        assert_eq!(fires_for(Missed::Latest, &due, now), vec![T0 + 120_000]);
        assert_eq!(fires_for(Missed::All, &due, now), due.to_vec());
        assert_eq!(fires_for(Missed::Skip, &due, now), vec![T0 + 120_000]);
        assert!(fires_for(Missed::Skip, &due, now + SKIP_GRACE_MS).is_empty());
        assert!(fires_for(Missed::Latest, &[], now).is_empty());
    }

    fn one(json: &str) -> Result<ScheduleSpec, String> {
        parse_schedules_json(json, "createWorker schedules")
            .map(|mut v| v.remove(0))
            .map_err(|e| e.0)
    }

    #[test]
    fn a_definition_with_defaults() {
        let s = one(r#"[{"name":"n","cron":"*/5 * * * *","task":{"namespace":"a","name":"b"}}]"#)
            .expect("valid");
        assert_eq!(s.timezone, "UTC");
        assert_eq!(s.version, DEFAULT_TASK_VERSION);
        assert_eq!(s.context, "{}");
        assert_eq!(s.missed, Missed::Latest);
    }

    #[test]
    fn messages_name_the_schedule_and_the_field() {
        let cases = [
            (
                r#"[{"name":"n","cron":"nope","task":{"namespace":"a","name":"b"}}]"#,
                "createWorker schedules: schedules[0] ('n'): cron 'nope' is not a valid cron \
                 expression: it has 1 field",
            ),
            (
                r#"[{"name":"n","cron":"* * * * *","timezone":"Nowhere","task":{"namespace":"a","name":"b"}}]"#,
                "schedules[0] ('n'): timezone 'Nowhere' is not a known time zone",
            ),
            (
                r#"[{"name":"n","cron":"* * * * *","task":{"namespace":"a"}}]"#,
                "schedules[0] ('n'): task.name is required",
            ),
            (
                r#"[{"name":"n","cron":"* * * * *","task":{"namespace":"a","name":"b"},"missed":"some"}]"#,
                "schedules[0] ('n'): missed: unknown missed-fire policy 'some'",
            ),
            (
                r#"[{"name":"n","crn":"* * * * *"}]"#,
                "schedules[0] ('n'): unknown field 'crn'",
            ),
            (
                r#"[{"cron":"* * * * *"}]"#,
                "schedules[0]: name is required",
            ),
            (
                r#"[{"name":"n","cron":"* * * * *","task":{"namespace":"a","name":"b"},"context":[1]}]"#,
                "schedules[0] ('n'): context must be an object, got a list",
            ),
        ];
        for (json, expected) in cases {
            let msg = one(json).expect_err(json);
            assert!(msg.contains(expected), "{msg}\n  expected: {expected}");
        }
        let twice = r#"[{"name":"n","cron":"* * * * *","task":{"namespace":"a","name":"b"}},
                        {"name":"n","cron":"* * * * *","task":{"namespace":"a","name":"b"}}]"#;
        let msg = one(twice).expect_err("twice");
        assert!(msg.contains("schedule 'n' is defined twice"), "{msg}");
    }

    #[test]
    fn schedule_files_and_their_messages() {
        let dir = std::env::temp_dir().join(format!("tasker-schedules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("s.yaml");
        let write = |text: &str| std::fs::write(&file, text).expect("write");
        let load = || load_schedules(&file).map_err(|e| e.0);
        let at = file.display().to_string();

        write("schedules:\n  - name: n\n    cron: '0 * * * *'\n    task: { namespace: a, name: b }\n    context: { k: [1, 2] }\n");
        let specs = load().expect("valid");
        assert_eq!(specs[0].context, r#"{"k":[1,2]}"#);

        let cases = [
            ("schedules: [", format!("{at}: not valid YAML: ")),
            (
                "- a\n",
                format!("{at}: expected a mapping with a 'schedules' list, got a list"),
            ),
            (
                "schedules: []\nextra: 1\n",
                format!(
                    "{at}: unknown top-level key 'extra' (a schedules file has only 'schedules')"
                ),
            ),
            (
                "{}",
                format!("{at}: expected a mapping with a 'schedules' list"),
            ),
            (
                "schedules: 5\n",
                format!("{at}: schedules must be a list, got a number"),
            ),
            (
                "schedules:\n  - name: ''\n",
                format!("{at}: schedules[0]: name must not be empty"),
            ),
            (
                "schedules:\n  - 7\n",
                format!(
                    "{at}: schedules[0]: expected an object with name, cron and task, got a number"
                ),
            ),
        ];
        for (text, expected) in cases {
            write(text);
            let msg = load().expect_err(text);
            assert!(msg.starts_with(&expected), "{msg}\n  expected: {expected}");
        }
        let long = "x".repeat(MAX_SCHEDULE_NAME_CHARS + 1);
        write(&format!("schedules:\n  - name: {long}\n"));
        let msg = load().expect_err("long");
        assert!(msg.ends_with("is longer than 200 characters"), "{msg}");

        std::fs::remove_file(&file).expect("remove");
        let msg = load().expect_err("missing");
        assert!(
            msg.starts_with(&format!("{at}: cannot read the schedules file: ")),
            "{msg}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn names_are_unique_across_lists() {
        let a = one(r#"[{"name":"n","cron":"* * * * *","task":{"namespace":"a","name":"b"}}]"#)
            .expect("valid");
        let list = std::slice::from_ref(&a);
        let lists: [(&str, &[ScheduleSpec]); 2] = [("first", list), ("second.yaml", list)];
        assert_eq!(
            check_unique_names(&lists).map_err(|e| e.0),
            Err("second.yaml: schedule 'n' is defined twice (also in first); schedule names must be unique".to_string())
        );
    }
}
