//! The form's time conditions (a cron schedule in a time zone, or once at a date and time), and the
//! next five times of a cron schedule: previewed under its row, and listed on the trigger's page.

use chrono::Utc;
use maud::{html, Markup};

use super::draft::{Draft, TimeRow, TIMES};
use super::inputs::{input_with, Extra, Rows};
use crate::console::page::FieldError;
use crate::domain::trigger::TimeDependent;
use crate::engine::schedule::Schedule;

pub fn times_section(draft: &Draft, error: &FieldError, previews: &[Option<Vec<String>>]) -> Markup {
    let rows = Rows {
        list: TIMES,
        title: "Time conditions",
        legend: "Time condition",
        intro: html! {
            p { "A cron schedule in a time zone, or once at a date and time (read in the time zone). \
                 Blank rows are ignored. " strong { "Preview schedules" } " below shows the next five times." }
        },
        filled: &draft.times,
        blank: TimeRow::default(),
        blanks: 2,
    };
    rows.render(error, |i, p, row| {
        html! {
            (time_inputs(p, row, error))
            @if let Some(Some(times)) = previews.get(i) {
                (next_times(&format!("preview-{i}"), times))
            }
        }
    })
}

fn time_inputs(p: &str, row: &TimeRow, error: &FieldError) -> Markup {
    let cron = Extra {
        placeholder: Some("0 9 * * Mon-Fri"),
        hint: Some("Five fields (minute hour day month weekday), or six or seven with seconds and year."),
        ..Extra::default()
    };
    let zones = Extra {
        list: Some("dl-zones"),
        placeholder: Some("Australia/Sydney"),
        hint: Some("An IANA time zone; UTC when blank."),
        ..Extra::default()
    };
    html! {
        (input_with("text", &format!("{p}.cron"), "Cron expression", &row.cron, error, cron))
        (input_with("text", &format!("{p}.timezone"), "Time zone", &row.timezone, error, zones))
        (input_with("datetime-local", &format!("{p}.time"), "Or once at (date and time)", &row.at, error,
            Extra::default()))
    }
}

/// The next five times of a cron condition.
pub fn next_times(id: &str, times: &[String]) -> Markup {
    html! {
        div.preview {
            p id=(id) { "Next five times:" }
            ol aria-labelledby=(id) { @for t in times { li { (t) } } }
        }
    }
}

/// The next five times of a cron expression, in its time zone; errors as the engine words them.
pub fn next_five(cron: &str, timezone: &str, prefix: &str) -> Result<Vec<String>, (String, String)> {
    let td = TimeDependent::Cron {
        cron: cron.trim().to_owned(),
        timezone: Some(timezone.trim().to_owned()).filter(|t| !t.is_empty()),
    };
    match Schedule::parse(&td, prefix) {
        Ok(Schedule::Cron(schedule, tz)) => Ok(schedule
            .after(&Utc::now().with_timezone(&tz))
            .take(5)
            .map(|t| t.format("%a %Y-%m-%d %H:%M:%S %Z").to_string())
            .collect()),
        Ok(Schedule::At(_)) => Ok(Vec::new()),
        Err(e) => Err((e.field.clone(), format!("{}: {}", e.field, e.message))),
    }
}

impl Draft {
    /// The next five times of each cron row that parses, by row; the first row that does not parse
    /// as the field at fault.
    pub fn previews(&self) -> (Vec<Option<Vec<String>>>, FieldError) {
        let mut first_error = None;
        let previews = (self.times.iter().enumerate())
            .map(|(i, row)| {
                if row.cron.trim().is_empty() {
                    return None;
                }
                match next_five(&row.cron, &row.timezone, &format!("{TIMES}[{i}]")) {
                    Ok(times) => Some(times),
                    Err(e) => {
                        first_error.get_or_insert(e);
                        None
                    }
                }
            })
            .collect();
        (previews, first_error)
    }
}
