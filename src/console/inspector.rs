//! What reached an instance and what it did: its receipts (filtered, opened, replayed) and its runs of
//! actions with their attempts.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use super::forms::Fields;
use super::page::{action_button, page, select, shell, ConsoleError};
use super::paging::Pager;
use super::session::Signed;
use crate::domain::receipt::{Receipt, ReceiptFilter};
use crate::domain::run::{ActionStatus, Run, RunFilter};
use crate::domain::{InstanceId, ReceiptId, RunId, SystemId};
use crate::http::errors::ApiError;
use crate::http::AppState;
use crate::store::PageRequest;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/systems/{id}/triggers/{trig}/receipts/{rcpt}", web::get().to(receipt))
        .route("/systems/{id}/triggers/{trig}/receipts/{rcpt}/replay", web::post().to(replay))
        .route("/systems/{id}/triggers/{trig}/runs/{run}", web::get().to(run))
        .route("/systems/{id}/triggers/{trig}/runs/{run}/retry", web::post().to(retry));
}

type Ids = (SystemId, InstanceId);

fn ids(system: &str, instance: &str) -> Result<Ids, ConsoleError> {
    let system = SystemId::parse(system).ok_or_else(|| ApiError::not_found("system"))?;
    let instance = InstanceId::parse(instance).ok_or_else(|| ApiError::not_found("trigger instance"))?;
    Ok((system, instance))
}

/// The receipt filter of the instance page's query (`?status=…&fired=…`).
#[derive(Deserialize, Default)]
pub struct CallFilter {
    #[serde(default)]
    status: String,
    #[serde(default)]
    fired: String,
    #[serde(default)]
    calls_from: usize,
    #[serde(default)]
    runs_from: usize,
}

/// Calls and runs shown a page at a time.
const PER_PAGE: usize = 25;

/// The instance page's section: the newest calls (filterable) and runs.
pub async fn section(state: &AppState, (system, instance): &Ids, q: &CallFilter) -> Result<Markup, ConsoleError> {
    let filter = ReceiptFilter {
        status: q.status.parse().ok(),
        fired: match q.fired.as_str() {
            "yes" => Some(true),
            "no" => Some(false),
            _ => None,
        },
        since: None,
    };
    let calls_page = PageRequest { offset: q.calls_from, limit: PER_PAGE };
    let calls = state.engine.list_receipts(system.clone(), instance.clone(), filter, calls_page).await?;
    let runs_page = PageRequest { offset: q.runs_from, limit: PER_PAGE };
    let runs = state.engine.list_runs(system.clone(), instance.clone(), RunFilter::default(), runs_page).await?;
    let base = format!("/console/systems/{system}/triggers/{instance}");
    let (calls_from, runs_from) = (q.calls_from.to_string(), q.runs_from.to_string());
    let kept = [("status", q.status.as_str()), ("fired", q.fired.as_str())];
    let calls_pager = Pager {
        path: &base,
        query: &[kept[0], kept[1], ("runs_from", &runs_from)],
        total: calls.total,
        offset: q.calls_from,
        limit: PER_PAGE,
        noun: "matching call",
    };
    let runs_pager = Pager {
        path: &base,
        query: &[kept[0], kept[1], ("calls_from", &calls_from)],
        total: runs.total,
        offset: q.runs_from,
        limit: PER_PAGE,
        noun: "run",
    };
    let fired_options: Vec<(String, String)> = [("", "Any"), ("yes", "Fired"), ("no", "Did not fire")]
        .iter()
        .map(|(v, t)| (v.to_string(), t.to_string()))
        .collect();
    Ok(html! {
        h2 id="calls" { "Calls received" }
        form.search method="get" action=(base) {
            div.field {
                label for="f-status" { "Answer status" }
                input id="f-status" name="status" type="number" value=(q.status);
            }
            (select("fired", "Fired", &fired_options, &q.fired, &None))
            button type="submit" { "Filter calls" }
        }
        (calls_pager.render_as("calls_from"))
        @if !calls.items.is_empty() {
            table aria-labelledby="calls" {
                thead { tr { th scope="col" { "Received" } th scope="col" { "Call" } th scope="col" { "Answer" } th scope="col" { "Fired" } } }
                tbody {
                    @for r in &calls.items {
                        tr {
                            td { a href=(format!("{base}/receipts/{}", r.id)) { (time(r.received_at)) } }
                            td { (r.method) @if let Some(exec) = &r.exec { " exec " (exec.module) "." (exec.method) } }
                            td { (r.status) @if let Some(e) = &r.error { " " span.code { (e) } } }
                            td { (if r.fired { "yes" } else { "no" }) }
                        }
                    }
                }
            }
        }
        h2 id="runs" { "Action runs" }
        (runs_pager.render_as("runs_from"))
        @if !runs.items.is_empty() {
            table aria-labelledby="runs" {
                thead { tr { th scope="col" { "Fire" } th scope="col" { "Status" } th scope="col" { "Actions" } } }
                tbody {
                    @for run in &runs.items {
                        tr {
                            td { a href=(format!("{base}/runs/{}", run.id)) { "#" (run.fire) " · " (time(run.fired_at)) } }
                            td { (run.status.as_str()) }
                            td { (run.actions.len()) }
                        }
                    }
                }
            }
        }
    })
}

fn action_status(status: ActionStatus) -> &'static str {
    match status {
        ActionStatus::Pending => "pending",
        ActionStatus::Succeeded => "succeeded",
        ActionStatus::GivenUp => "given up",
    }
}

/// Epoch milliseconds as UTC date and time.
fn time(ms: u64) -> String {
    let at = chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(0));
    at.map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_default()
}

/// How a replay went, on the replayed call's page.
#[derive(Deserialize)]
struct Replayed {
    replayed: Option<u16>,
    #[serde(rename = "as")]
    new: Option<ReceiptId>,
}

async fn receipt(
    signed: Signed,
    path: web::Path<(String, String, String)>,
    q: web::Query<Replayed>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (system, instance) = ids(&path.0, &path.1)?;
    let id = ReceiptId::parse(&path.2).ok_or_else(|| ApiError::not_found("receipt"))?;
    let receipt = state.engine.get_receipt(system, instance, id).await?;
    let base = format!("/console/systems/{}/triggers/{}", receipt.system_id, receipt.trigger_instance);
    let note = q.replayed.map(|status| {
        html! {
            div.result role="status" {
                p { "Replayed: the call answered " (status) "." }
                @if let Some(new) = &q.new { p { a href=(format!("{base}/receipts/{new}")) { "Open the replayed call" } } }
            }
        }
    });
    Ok(page(StatusCode::OK, receipt_page(&signed, &receipt, note)))
}

fn receipt_page(signed: &Signed, r: &Receipt, replayed: Option<Markup>) -> Markup {
    let base = format!("/console/systems/{}/triggers/{}", r.system_id, r.trigger_instance);
    shell(
        "Call received",
        Some(signed),
        html! {
            p.crumbs { a href=(base) { "Instance" } " / " }
            h1 { "Call received " (time(r.received_at)) }
            @if let Some(replayed) = replayed { (replayed) }
            dl {
                dt { "Call" } dd { (r.method) " " (r.path) @if !r.query.is_empty() { "?" (r.query) } }
                dt { "Answer" } dd { (r.status) @if let Some(e) = &r.error { " (" (e) ")" } }
                dt { "Fired" } dd { (r.fired) }
                dt { "Signature" } dd { (format!("{:?}", r.verification).to_lowercase()) @if let Some(e) = &r.verification_error { " — " (e) } }
                @if let Some(d) = &r.delivery_id { dt { "Delivery id" } dd { (d) (if r.duplicate { " (duplicate)" } else { "" }) } }
                @if let Some(exec) = &r.exec { dt { "Exec" } dd { (exec.module) "." (exec.method) " → " (exec.status.map(|s| s.to_string()).unwrap_or_else(|| "not called".into())) } }
                dt { "Request id" } dd { code { (r.request_id) } }
                @if let Some(of) = &r.replay_of { dt { "Replay of" } dd { a href=(format!("{base}/receipts/{of}")) { (of) } } }
            }
            h2 { "Headers" }
            table { tbody { @for (name, value) in &r.headers { tr { th scope="row" { (name) } td { (value) } } } } }
            h2 { "Body" }
            p.count { (r.body_size) " bytes" @if r.body_truncated { ", cut short" } }
            pre { (r.body) }
            @if signed.is_admin() && !r.body_truncated {
                (action_button(signed, &format!("{base}/receipts/{}/replay", r.id), "Replay this call", Some("Run this call through the webhook again?")))
            }
        },
    )
}

async fn replay(
    signed: Signed,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Fields::for_admin(&body, &signed)?;
    let (system, instance) = ids(&path.0, &path.1)?;
    let id = ReceiptId::parse(&path.2).ok_or_else(|| ApiError::not_found("receipt"))?;
    let original = state.engine.get_receipt(system, instance, id).await?;
    let (outcome, new_id) = crate::http::receipts::replay_receipt(&state, &req, original.clone()).await?;
    let status = match &outcome {
        Ok(res) => res.status().as_u16(),
        Err(e) => actix_web::ResponseError::status_code(e).as_u16(),
    };
    // Back to this call's page saying how the replay went: reloading it shows that, never replays again.
    // (The new call's receipt is stored a moment later, by the receipt writer.)
    let base = format!("/console/systems/{}/triggers/{}", original.system_id, original.trigger_instance);
    Ok(super::page::redirect(&format!("{base}/receipts/{}?replayed={status}&as={new_id}", original.id)))
}

async fn run(
    signed: Signed,
    path: web::Path<(String, String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let (system, instance) = ids(&path.0, &path.1)?;
    let id = RunId::parse(&path.2).ok_or_else(|| ApiError::not_found("run"))?;
    let run = state.engine.get_run(system, instance, id).await?;
    Ok(page(StatusCode::OK, run_page(&signed, &run)))
}

async fn retry(
    signed: Signed,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Fields::for_admin(&body, &signed)?;
    let (system, instance) = ids(&path.0, &path.1)?;
    let id = RunId::parse(&path.2).ok_or_else(|| ApiError::not_found("run"))?;
    let run = state.engine.retry_run(system, instance, id).await?;
    let base = format!("/console/systems/{}/triggers/{}", run.system_id, run.trigger_instance);
    Ok(super::page::redirect(&format!("{base}/runs/{}", run.id)))
}

fn run_page(signed: &Signed, run: &Run) -> Markup {
    let base = format!("/console/systems/{}/triggers/{}", run.system_id, run.trigger_instance);
    shell(
        "Run",
        Some(signed),
        html! {
            p.crumbs { a href=(base) { "Instance" } " / " }
            h1 { "Run of fire #" (run.fire) }
            dl {
                dt { "Status" } dd { (run.status.as_str()) }
                dt { "Fired" } dd { (time(run.fired_at)) }
                @if let Some(c) = &run.callout { dt { "Callouts" } dd { (format!("{:?}", c.state).to_lowercase()) @if let Some(r) = &c.reason { " — " (r) } } }
            }
            @if signed.is_admin() && run.actions.iter().any(|a| a.status == ActionStatus::GivenUp) {
                (action_button(signed, &format!("{base}/runs/{}/retry", run.id), "Retry the failed actions", None))
            }
            @for action in &run.actions {
                section.card {
                    h2 { "Action " (action.index) ": " (action.action.kind()) }
                    p { (action_status(action.status)) ", " (action.attempt_count) " attempts" }
                    @if !action.attempts.is_empty() {
                        table {
                            thead { tr { th scope="col" { "Started" } th scope="col" { "Took" } th scope="col" { "Outcome" } } }
                            tbody {
                                @for a in &action.attempts {
                                    tr { td { (time(a.started_at)) } td { (a.latency_ms) " ms" } td { (if a.succeeded { "succeeded".to_owned() } else { a.error.clone().unwrap_or_default() }) } }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
