//! How the console shows what its pages share: times (in UTC), counts of things, URLs as the caller
//! may see them, a secret the moment it is made, and a page of a log.

use maud::{html, Markup};

use super::page::copyable;
use super::paging::Pager;
use super::session::Signed;
use crate::outbound::subscription::url_for_support;

/// A time from epoch seconds, in UTC.
pub fn when(secs: u64) -> Markup {
    when_ms(secs.saturating_mul(1000))
}

/// A time from epoch milliseconds, in UTC.
pub fn when_ms(ms: u64) -> Markup {
    match chrono::DateTime::from_timestamp_millis(i64::try_from(ms).unwrap_or(i64::MAX)) {
        Some(t) => html! {
            time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)) { (t.format("%Y-%m-%d %H:%M:%S UTC")) }
        },
        None => html! { (ms) },
    }
}

/// `1 trigger`, `3 triggers`.
pub fn plural(n: usize, one: &str) -> String {
    format!("{n} {one}{}", if n == 1 { "" } else { "s" })
}

/// A URL that may carry a credential as this caller may see it: whole for an admin, with its
/// credentials redacted for a support key.
pub fn shown_url(signed: &Signed, url: &str) -> String {
    if signed.is_admin() {
        url.to_owned()
    } else {
        url_for_support(url)
    }
}

/// A secret just made, with a copy button and the warning that it will not be shown again; `then` is
/// the page to go on to.
pub fn secret_once(label: &str, value: &str, then: &str) -> Markup {
    html! {
        section.card.secret aria-labelledby="secret-title" {
            h2 id="secret-title" { (label) }
            p role="alert" { strong { "Copy it now: it will not be shown again." } }
            (copyable("secret", label, value))
            p { a href=(then) { "I have copied it" } }
        }
    }
}

/// One page of a log, newest first: its count and page links, then its entries under `columns`, a
/// row each by `row`; `empty` when it holds none.
pub fn log_page<T>(
    pager: &Pager,
    entries: &[T],
    columns: [&str; 3],
    row: impl Fn(&T) -> Markup,
    empty: &str,
) -> Markup {
    html! {
        (pager.render())
        @if pager.total == 0 {
            p.empty { (empty) }
        } @else if !entries.is_empty() {
            p { "Newest first." }
            table.log {
                thead { tr { @for column in columns { th scope="col" { (column) } } } }
                tbody { @for entry in entries { (row(entry)) } }
            }
        }
    }
}
