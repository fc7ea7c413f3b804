//! The form's comparisons: each side a module's status or a constant, and the operator between them.

use maud::{html, Markup};

use super::draft::{ComparisonRow, Draft, Side, COMPARISONS};
use super::inputs::{input_with, options, Extra, Rows};
use crate::console::page::{select, text_field, FieldError};

/// `(value, text)` of the comparison operators, in the README's order.
pub const OPERATORS: [(&str, &str); 9] = [
    ("equal", "equal (=)"),
    ("not_equal", "not equal (≠)"),
    ("greater_than", "greater than (>)"),
    ("greater_than_or_equal", "greater than or equal (≥)"),
    ("less_than", "less than (<)"),
    ("less_than_or_equal", "less than or equal (≤)"),
    ("and", "and (both truthy)"),
    ("or", "or (either truthy)"),
    ("exclusive_or", "exclusive or (one truthy)"),
];

pub fn comparisons_section(draft: &Draft, error: &FieldError) -> Markup {
    let rows = Rows {
        list: COMPARISONS,
        title: "Comparisons",
        legend: "Comparison",
        intro: html! {
            p {
                "Each side is a module's status — the module (e.g. " code { "Display_1" } "), the status, and \
                 optional keys into its value separated by commas — or a constant in JSON: a number, a "
                code { "\"string\"" } " in double quotes, " code { "true" } ", " code { "false" } " or "
                code { "null" } ". Blank rows are ignored."
            }
        },
        filled: &draft.comparisons,
        blank: ComparisonRow { left: Side::default(), operator: "equal".to_owned(), right: Side::default() },
        blanks: 3,
    };
    let operators = options(&OPERATORS);
    rows.render(error, |_, p, row| {
        html! {
            (side_inputs(&format!("{p}.left"), "Left side", &row.left, error))
            (select(&format!("{p}.operator"), "Operator", &operators, &row.operator, error))
            (side_inputs(&format!("{p}.right"), "Right side", &row.right, error))
        }
    })
}

fn side_inputs(prefix: &str, which: &str, side: &Side, error: &FieldError) -> Markup {
    let modules = Extra { list: Some("dl-modules"), ..Extra::default() };
    html! {
        fieldset {
            legend { (which) }
            (input_with("text", &format!("{prefix}.mod"), "Module", &side.module, error, modules))
            (text_field(&format!("{prefix}.status"), "Status", &side.status, error))
            (text_field(&format!("{prefix}.keys"), "Keys", &side.keys, error))
            (text_field(prefix, "Or a constant (JSON)", &side.constant, error))
        }
    }
}
