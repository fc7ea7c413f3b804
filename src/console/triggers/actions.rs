//! The form's actions: functions of the instance's modules, emails and HTTP requests.

use maud::{html, Markup};

use super::draft::{Draft, FunctionRow, MailerRow, RequestRow, FUNCTIONS, MAILERS, REQUESTS};
use super::inputs::{input_with, json_textarea, options, Extra, Rows};
use crate::console::page::{select, textarea, FieldError};
use crate::domain::methods::WebhookMethod;

pub fn functions_section(draft: &Draft, error: &FieldError) -> Markup {
    let rows = Rows {
        list: FUNCTIONS,
        title: "Functions",
        legend: "Function",
        intro: html! { p { "Calls a function of a module of the instance's system. Blank rows are ignored." } },
        filled: &draft.functions,
        blank: FunctionRow::default(),
        blanks: 2,
    };
    rows.render(error, |_, p, row| function_inputs(p, row, error))
}

fn function_inputs(p: &str, row: &FunctionRow, error: &FieldError) -> Markup {
    let module = Extra { list: Some("dl-modules"), placeholder: Some("Display_1"), ..Extra::default() };
    let method = Extra { list: Some("dl-functions"), ..Extra::default() };
    html! {
        (input_with("text", &format!("{p}.mod"), "Module", &row.module, error, module))
        (input_with("text", &format!("{p}.method"), "Method", &row.method, error, method))
        (json_textarea(&format!("{p}.args"), "Arguments (JSON object)", &row.args, 3, error,
            Some("Named arguments, e.g. {\"level\": 10}; values may be placeholders.")))
    }
}

pub fn mailers_section(draft: &Draft, error: &FieldError) -> Markup {
    let rows = Rows {
        list: MAILERS,
        title: "Emails",
        legend: "Email",
        intro: html! {
            p { "Sends one email per address, with the trigger's name as subject. Blank rows are ignored." }
        },
        filled: &draft.mailers,
        blank: MailerRow::default(),
        blanks: 1,
    };
    let addresses =
        Extra { hint: Some("Separated by commas."), placeholder: Some("ops@example.com"), ..Extra::default() };
    rows.render(error, |_, p, row| {
        html! {
            (input_with("text", &format!("{p}.emails"), "Addresses", &row.emails, error, addresses))
            (textarea(&format!("{p}.content"), "Content", &row.content, error))
        }
    })
}

pub fn requests_section(draft: &Draft, error: &FieldError) -> Markup {
    let rows = Rows {
        list: REQUESTS,
        title: "HTTP requests",
        legend: "Request",
        intro: html! { p { "Sends an HTTP request; a 2xx answer is success. Blank rows are ignored." } },
        filled: &draft.requests,
        blank: RequestRow {
            method: "POST".to_owned(),
            url: String::new(),
            headers: String::new(),
            body: String::new(),
            timeout: String::new(),
        },
        blanks: 1,
    };
    rows.render(error, |_, p, row| request_inputs(p, row, error))
}

fn request_inputs(p: &str, row: &RequestRow, error: &FieldError) -> Markup {
    let methods: Vec<(&str, &str)> = WebhookMethod::ALL.iter().map(|m| (m.as_str(), m.as_str())).collect();
    let url = Extra { placeholder: Some("https://example.com/hook"), inputmode: Some("url"), ..Extra::default() };
    let timeout = Extra { inputmode: Some("numeric"), hint: Some("1 to 60000; 10000 when blank."), ..Extra::default() };
    html! {
        (select(&format!("{p}.method"), "Method", &options(&methods), &row.method, error))
        (input_with("text", &format!("{p}.url"), "URL", &row.url, error, url))
        (json_textarea(&format!("{p}.headers"), "Headers (JSON object)", &row.headers, 3, error,
            Some("e.g. {\"Authorization\": \"Bearer …\"}")))
        (json_textarea(&format!("{p}.body"), "Body (JSON)", &row.body, 4, error, None))
        (input_with("text", &format!("{p}.timeout_ms"), "Timeout (ms)", &row.timeout, error, timeout))
    }
}
