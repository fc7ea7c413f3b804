//! The posted trigger form read into a [`Draft`]: blank rows left out, the rest numbered again from 0.
//!
//! The fields are kept in a map, not in `forms::Fields`: a trigger form has hundreds of inputs, each
//! looked up by name, and only the supported methods repeat a name.

use std::collections::{BTreeSet, HashMap};

use super::draft::{
    ComparisonRow, Draft, FunctionRow, MailerRow, RequestRow, Side, TimeRow, COMPARISONS, FUNCTIONS, MAILERS, REQUESTS,
    TIMES,
};
use crate::domain::methods::WebhookMethod;

/// Rows read from a posted form, at most, per list (a bound on what a form can make the server build).
const MAX_ROWS: usize = 200;

/// A posted form's fields: the last value of each name, and the ticked methods.
pub struct PostedFields {
    values: HashMap<String, String>,
    methods: Vec<String>,
}

impl PostedFields {
    pub fn parse(body: &[u8]) -> Self {
        let mut values = HashMap::new();
        let mut methods = Vec::new();
        for (k, v) in form_urlencoded::parse(body) {
            if k == "supported_methods" {
                methods.push(v.into_owned());
            } else {
                values.insert(k.into_owned(), v.into_owned());
            }
        }
        Self { values, methods }
    }

    pub fn get(&self, name: &str) -> &str {
        self.values.get(name).map_or("", String::as_str)
    }

    fn owned(&self, name: &str) -> String {
        self.get(name).to_owned()
    }

    fn ticked(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    fn side(&self, prefix: &str) -> Side {
        Side {
            module: self.owned(&format!("{prefix}.mod")),
            status: self.owned(&format!("{prefix}.status")),
            keys: self.owned(&format!("{prefix}.keys")),
            constant: self.owned(prefix),
        }
    }

    /// `list[i]` for each row index the form posted under `list`, in order.
    fn rows(&self, list: &str) -> Vec<String> {
        let start = format!("{list}[");
        let indices: BTreeSet<usize> = self
            .values
            .keys()
            .filter_map(|k| k.strip_prefix(&start)?.split_once(']')?.0.parse::<usize>().ok())
            .collect();
        indices.into_iter().take(MAX_ROWS).map(|i| format!("{list}[{i}]")).collect()
    }

    /// The rows of `list` read by `row` (given the row's prefix), blank ones left out.
    fn filled<T>(&self, list: &str, row: impl Fn(&str) -> T, is_blank: impl Fn(&T) -> bool) -> Vec<T> {
        self.rows(list).iter().map(|p| row(p)).filter(|r| !is_blank(r)).collect()
    }

    /// The ticked methods, in the order the form shows them.
    fn methods(&self) -> Vec<String> {
        WebhookMethod::ALL
            .iter()
            .map(|m| m.as_str())
            .filter(|m| self.methods.iter().any(|t| t == m))
            .map(str::to_owned)
            .collect()
    }
}

impl Draft {
    /// What a posted form holds, blank rows left out.
    pub fn from_fields(f: &PostedFields) -> Self {
        Self {
            name: f.owned("name"),
            description: f.owned("description"),
            methods: f.methods(),
            debounce: f.owned("debounce_period"),
            unit: f.owned("debounce_unit"),
            enable_webhook: f.ticked("enable_webhook"),
            any_match: f.ticked("any_match"),
            important: f.ticked("important"),
            comparisons: f.filled(COMPARISONS, |p| comparison(f, p), ComparisonRow::is_blank),
            times: f.filled(TIMES, |p| time(f, p), |r| blank(&[&r.cron, &r.timezone, &r.at])),
            functions: f.filled(FUNCTIONS, |p| function(f, p), |r| blank(&[&r.module, &r.method, &r.args])),
            mailers: f.filled(MAILERS, |p| mailer(f, p), |r| blank(&[&r.emails, &r.content])),
            requests: f.filled(REQUESTS, |p| request(f, p), |r| blank(&[&r.url, &r.headers, &r.body, &r.timeout])),
            webhook_filter: f.owned("webhook_filter"),
            webhook_verification: f.owned("webhook_verification"),
        }
    }
}

fn comparison(f: &PostedFields, p: &str) -> ComparisonRow {
    ComparisonRow {
        left: f.side(&format!("{p}.left")),
        operator: f.owned(&format!("{p}.operator")),
        right: f.side(&format!("{p}.right")),
    }
}

fn time(f: &PostedFields, p: &str) -> TimeRow {
    TimeRow {
        cron: f.owned(&format!("{p}.cron")),
        timezone: f.owned(&format!("{p}.timezone")),
        at: f.owned(&format!("{p}.time")),
    }
}

fn function(f: &PostedFields, p: &str) -> FunctionRow {
    FunctionRow {
        module: f.owned(&format!("{p}.mod")),
        method: f.owned(&format!("{p}.method")),
        args: f.owned(&format!("{p}.args")),
    }
}

fn mailer(f: &PostedFields, p: &str) -> MailerRow {
    MailerRow { emails: f.owned(&format!("{p}.emails")), content: f.owned(&format!("{p}.content")) }
}

/// A request row; its method alone does not fill it (the drop-down always sends one).
fn request(f: &PostedFields, p: &str) -> RequestRow {
    RequestRow {
        method: f.owned(&format!("{p}.method")),
        url: f.owned(&format!("{p}.url")),
        headers: f.owned(&format!("{p}.headers")),
        body: f.owned(&format!("{p}.body")),
        timeout: f.owned(&format!("{p}.timeout_ms")),
    }
}

impl ComparisonRow {
    /// Both sides blank: the operator alone does not fill a row (the drop-down always sends one).
    fn is_blank(&self) -> bool {
        self.left.is_blank() && self.right.is_blank()
    }
}

impl Side {
    pub fn is_blank(&self) -> bool {
        blank(&[&self.module, &self.status, &self.keys, &self.constant])
    }
}

pub fn blank(values: &[&str]) -> bool {
    values.iter().all(|v| v.trim().is_empty())
}
