//! What a trigger is, read only, for everyone who may read it: its settings, conditions (with the
//! next times of its cron schedules), actions and how its webhook calls are checked.

use chrono::TimeZone;
use maud::{html, Markup};

use super::basics::debounce_text;
use super::conditions::OPERATORS;
use super::times::{next_five, next_times};
use crate::domain::trigger::{Actions, Operand, Operator, TimeDependent, TriggerSpec};

pub fn methods_text(spec: &TriggerSpec) -> String {
    spec.supported_methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(", ")
}

pub fn summary(spec: &TriggerSpec) -> Markup {
    html! {
        (settings(spec))
        h2 { "Conditions" }
        (conditions(spec))
        h2 { "Actions" }
        (actions(&spec.actions))
        h2 { "Webhook calls" }
        (webhook_calls(spec))
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn settings(spec: &TriggerSpec) -> Markup {
    html! {
        dl.summary {
            dt { "Webhook" } dd id="summary-webhook" { @if spec.enable_webhook { "enabled" } @else { "disabled" } }
            dt { "Supported methods" } dd id="summary-methods" { (methods_text(spec)) }
            dt { "Debounce" } dd id="summary-debounce" { (debounce_text(spec.debounce_period)) }
            dt { "Any match" } dd {
                (yes_no(spec.any_match)) " — "
                @if spec.any_match { "fires when any condition holds" } @else { "fires when all conditions hold" }
            }
            dt { "Important" } dd { (yes_no(spec.important)) }
        }
    }
}

fn conditions(spec: &TriggerSpec) -> Markup {
    let c = &spec.conditions;
    html! {
        @if c.comparisons.is_empty() && c.time_dependents.is_empty() && !spec.enable_webhook {
            p.empty { "No conditions: this trigger never fires." }
        }
        @if spec.enable_webhook { p { "A call to an instance's webhook URL." } }
        @if !c.comparisons.is_empty() {
            h3 { "Comparisons" }
            ol {
                @for cmp in &c.comparisons {
                    li { (operand_text(&cmp.left)) " " (operator_text(cmp.operator)) " " (operand_text(&cmp.right)) }
                }
            }
        }
        @if !c.time_dependents.is_empty() {
            h3 { "Time conditions" }
            ol { @for (i, td) in c.time_dependents.iter().enumerate() { li { (time_text(i, td)) } } }
        }
    }
}

fn operand_text(operand: &Operand) -> Markup {
    match operand {
        Operand::Status(s) => html! {
            code { (s.module) "." (s.status) @for k in &s.keys { " → " (k) } }
        },
        Operand::Constant(c) => html! { code { (c.0) } },
    }
}

fn operator_text(operator: Operator) -> String {
    let value = serde_json::to_value(operator).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    OPERATORS.iter().find(|(v, _)| *v == value).map_or(value, |(_, text)| (*text).to_owned())
}

/// The `i`th time condition: once at a time, or a cron schedule with its next five times.
fn time_text(i: usize, td: &TimeDependent) -> Markup {
    html! {
        @match td {
            TimeDependent::At { time } => { "Once at " (at_text(*time)) }
            TimeDependent::Cron { cron, timezone } => {
                @let zone = timezone.as_deref().filter(|t| !t.is_empty()).unwrap_or("UTC");
                "Cron " code { (cron) } " in " (zone)
                @if let Ok(times) = next_five(cron, timezone.as_deref().unwrap_or(""), "") {
                    (next_times(&format!("summary-next-{i}"), &times))
                }
            }
        }
    }
}

fn at_text(epoch_seconds: i64) -> String {
    chrono::Utc
        .timestamp_opt(epoch_seconds, 0)
        .single()
        .map_or_else(|| epoch_seconds.to_string(), |t| t.format("%a %Y-%m-%d %H:%M:%S UTC").to_string())
}

fn actions(a: &Actions) -> Markup {
    html! {
        @if a.is_empty() { p.empty { "No actions." } }
        @if !a.functions.is_empty() {
            h3 { "Functions" }
            ol {
                @for f in &a.functions {
                    li {
                        code { (f.module) "." (f.method) }
                        @if !f.args.is_empty() { " with " code { (serde_json::Value::Object(f.args.clone())) } }
                    }
                }
            }
        }
        @if !a.mailers.is_empty() {
            h3 { "Emails" }
            ol { @for m in &a.mailers { li { "To " (m.emails.join(", ")) ": " q { (m.content) } } } }
        }
        @if !a.requests.is_empty() {
            h3 { "HTTP requests" }
            ol {
                @for r in &a.requests {
                    li {
                        (r.method) " " code { (r.url) }
                        @if !r.headers.is_empty() {
                            "; headers " (r.headers.keys().cloned().collect::<Vec<_>>().join(", "))
                        }
                        @if let Some(body) = &r.body { "; body " code { (body) } }
                        "; timeout " (r.timeout_ms()) " ms"
                    }
                }
            }
        }
    }
}

fn webhook_calls(spec: &TriggerSpec) -> Markup {
    html! {
        dl {
            dt { "Payload filter" }
            dd { @match &spec.webhook_filter {
                Some(f) => code { (serde_json::to_string(f).unwrap_or_default()) },
                None => "none: every accepted call counts",
            } }
            dt { "Signature verification" }
            dd { @match &spec.webhook_verification {
                Some(v) => code { (serde_json::to_string(v).unwrap_or_default()) },
                None => "none: only the URL secret is checked",
            } }
        }
    }
}
