//! A system's modules: adding one with a settings form made from its driver's descriptor, moving them
//! in the system's order, and a module's page with its live status and forms for its functions.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde_json::{Map, Value};
use switchboard_drivers::sdk::{DriverDescriptor, JsonType, Param};

use super::forms::Fields;
use super::page::{csrf, form_error, input, page, redirect, refusal, select, shell, ConsoleError, FieldError};
use super::session::Signed;
use crate::domain::module::{ModuleName, ModuleRef};
use crate::domain::system::System;
use crate::domain::{ModuleId, SystemId};
use crate::engine::inputs::{ModuleIn, SystemPatch};
use crate::engine::ModuleView;
use crate::http::errors::ApiError;
use crate::http::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/systems/{id}/modules", web::post().to(add))
        .route("/systems/{id}/modules/{module}/move", web::post().to(move_module))
        .route("/systems/{id}/{module}", web::get().to(show))
        .route("/systems/{id}/{module}/{method}", web::post().to(call));
}

fn system_id(raw: &str) -> Result<SystemId, ConsoleError> {
    Ok(SystemId::parse(raw).ok_or_else(|| ApiError::not_found("system"))?)
}

/// The system page's section: the modules in order, with moves, and the form that adds one.
pub fn section(signed: &Signed, state: &AppState, system: &System, modules: &[ModuleView], q: &AddQuery) -> Markup {
    let drivers: Vec<(String, String)> =
        state.engine.drivers().all().map(|d| (d.name.clone(), format!("{} ({})", d.name, d.description))).collect();
    let chosen = state.engine.drivers().get(&q.driver).or_else(|| state.engine.drivers().all().next());
    let last = modules.len().saturating_sub(1);
    html! {
        h2 id="modules" { "Modules, in order" }
        @if modules.is_empty() {
            p.empty { "No modules in this system." }
        } @else {
            ol.modules aria-labelledby="modules" {
                @for (at, view) in modules.iter().enumerate() {
                    @let reference = reference_of(view);
                    li {
                        a href=(format!("/console/systems/{}/{reference}", system.id)) { strong { (reference) } }
                        " · " (view.module.driver)
                        @if signed.is_admin() {
                            @let base = format!("/console/systems/{}/modules/{}/move", system.id, view.module.id);
                            @if at > 0 { (move_button(signed, &base, "up", &reference)) }
                            @if at < last { (move_button(signed, &base, "down", &reference)) }
                        }
                    }
                }
            }
        }
        @if signed.is_admin() {
            @if let Some(driver) = chosen {
                (add_form(signed, &system.id, &drivers, driver, q))
            }
        }
    }
}

pub fn reference_of(view: &ModuleView) -> String {
    format!("{}_{}", view.name, view.index.unwrap_or(1))
}

fn move_button(signed: &Signed, base: &str, to: &str, reference: &str) -> Markup {
    html! {
        form.inline method="post" action=(format!("{base}?to={to}")) {
            (csrf(signed))
            button type="submit" aria-label=(format!("Move {reference} {to}")) { (if to == "up" { "Up" } else { "Down" }) }
        }
    }
}

/// What the add form shows: the driver picked (`?driver=` reloads the form with its settings), and a
/// refused attempt's values and error.
#[derive(serde::Deserialize, Default)]
pub struct AddQuery {
    #[serde(default)]
    pub driver: String,
    /// The refused form's settings, as typed.
    #[serde(skip)]
    pub values: Map<String, Value>,
    #[serde(skip)]
    pub custom_name: String,
    #[serde(skip)]
    pub error: FieldError,
}

fn add_form(
    signed: &Signed,
    system: &SystemId,
    drivers: &[(String, String)],
    driver: &DriverDescriptor,
    q: &AddQuery,
) -> Markup {
    let (error, values) = (&q.error, &q.values);
    let fields: Vec<String> = driver.settings.iter().map(|p| format!("settings.{}", p.name)).collect();
    let names: Vec<&str> = fields.iter().map(String::as_str).chain(["custom_name", "driver"]).collect();
    html! {
        section.card aria-labelledby="add-module" {
            h3 id="add-module" { "Add a module" }
            form method="get" action=(format!("/console/systems/{system}")) {
                (select("driver", "Driver", drivers, &driver.name, &None))
                button type="submit" { "Show its settings" }
            }
            (form_error(error, &names))
            form method="post" action=(format!("/console/systems/{system}/modules")) {
                (csrf(signed))
                input type="hidden" name="driver" value=(driver.name);
                (input("text", "custom_name", &format!("Name (default {})", driver.default_module_name), &q.custom_name, error))
                @for param in &driver.settings {
                    // A secret typed into a refused form is not sent back in the page.
                    @let value = if param.sensitive { None } else { values.get(&param.name) };
                    (param_input("settings", param, value, error))
                }
                button type="submit" { (format!("Add {} module", driver.name)) }
            }
        }
    }
}

/// An input for a setting or an argument, named `{prefix}.{name}`: JSON for objects, arrays and
/// anything; text otherwise, read by the parameter's type when the form arrives.
pub fn param_input(prefix: &str, param: &Param, value: Option<&Value>, error: &FieldError) -> Markup {
    let name = format!("{prefix}.{}", param.name);
    let kind = match param.json_type {
        // A shared secret or a URL holding a token is not shown while typed.
        _ if param.sensitive => "password",
        JsonType::Number | JsonType::Integer => "number",
        _ => "text",
    };
    let hint = match param.json_type {
        JsonType::Boolean => " (true or false)",
        JsonType::Object | JsonType::Array | JsonType::Any => " (JSON)",
        _ => "",
    };
    let shown = match value {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    let label = format!("{}{}{hint}", param.name, if param.required { "" } else { " (optional)" });
    input(kind, &name, &label, &shown, error)
}

/// The fields named `{prefix}.…` as they were typed, to show a refused form again.
pub fn as_typed(fields: &Fields, prefix: &str) -> Map<String, Value> {
    fields.under(prefix).map(|(name, value)| (name.to_owned(), Value::String(value.to_owned()))).collect()
}

/// The typed values of the fields named `{prefix}.…`, by the parameters' types; blank optional ones
/// are left out.
pub fn typed(fields: &Fields, prefix: &str, params: &[Param]) -> Result<Map<String, Value>, (String, String)> {
    let mut out = Map::new();
    for param in params {
        let name = format!("{prefix}.{}", param.name);
        let raw = fields.get(&name).trim();
        if raw.is_empty() {
            continue;
        }
        let value = match param.json_type {
            JsonType::String => Value::String(raw.to_owned()),
            _ => serde_json::from_str(raw).map_err(|_| {
                (name.clone(), format!("{name}: not a valid {:?} value", param.json_type).to_lowercase())
            })?,
        };
        out.insert(param.name.clone(), value);
    }
    Ok(out)
}

async fn add(
    signed: Signed,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::for_admin(&body, &signed)?;
    let field = |name: &str| fields.get(name).to_owned();
    let system = system_id(&path)?;
    let driver_name = field("driver");
    let driver = state.engine.drivers().get(&driver_name).ok_or_else(|| ApiError::not_found("driver"))?;
    let typed_values = as_typed(&fields, "settings");
    let refused = |error: (String, String)| {
        let q = AddQuery {
            driver: driver_name.clone(),
            values: typed_values.clone(),
            custom_name: field("custom_name"),
            error: Some(error),
        };
        super::systems::system_page_with(&signed, &state, system.clone(), q, None, StatusCode::UNPROCESSABLE_ENTITY)
    };
    let settings = match typed(&fields, "settings", &driver.settings) {
        Ok(settings) => settings,
        Err(error) => return refused(error).await,
    };
    let custom_name = match field("custom_name").trim() {
        "" => None,
        name => match ModuleName::parse(name) {
            Ok(name) => Some(name),
            Err(e) => return refused(("custom_name".into(), format!("custom_name: {}", e.message))).await,
        },
    };
    let input =
        ModuleIn { driver: driver_name.clone(), custom_name, control_system_id: Some(system.clone()), settings };
    match state.engine.create_module(input).await {
        Ok(_) => Ok(redirect(&format!("/console/systems/{system}"))),
        Err(e) => refused(refusal(e)?).await,
    }
}

#[derive(serde::Deserialize)]
struct MoveQuery {
    to: String,
}

async fn move_module(
    signed: Signed,
    path: web::Path<(String, String)>,
    q: web::Query<MoveQuery>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    Fields::for_admin(&body, &signed)?;
    let system = system_id(&path.0)?;
    let module = ModuleId::parse(&path.1).ok_or_else(|| ApiError::not_found("module"))?;
    let mut order = state.engine.get_system(system.clone()).await?.modules;
    if let Some(at) = order.iter().position(|m| *m == module) {
        let to = if q.to == "up" { at.checked_sub(1) } else { Some(at + 1).filter(|t| *t < order.len()) };
        if let Some(to) = to {
            order.swap(at, to);
        }
    }
    let patch = SystemPatch { name: None, description: None, modules: Some(order) };
    state.engine.update_system(system.clone(), patch).await?;
    Ok(redirect(&format!("/console/systems/{system}")))
}

async fn show(
    signed: Signed,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let body = module_page(&signed, &state, &path, None).await?;
    Ok(page(StatusCode::OK, body))
}

/// A status value as the page shows it: strings as they are, anything else as JSON (as the live
/// updates show it too).
fn shown(value: &Value) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// A function call's outcome, shown on the module's page.
struct Called {
    function: String,
    outcome: Result<Value, (String, String)>,
}

async fn module_page(
    signed: &Signed,
    state: &AppState,
    path: &(String, String),
    called: Option<Called>,
) -> Result<Markup, ConsoleError> {
    let system = system_id(&path.0)?;
    let reference = ModuleRef::parse(&path.1).map_err(|_| ApiError::not_found("module"))?;
    let status = state.engine.module_status(system.clone(), &reference).await?;
    let views = state.engine.system_modules(system.clone()).await?;
    let view =
        views.iter().find(|v| reference_of(v) == reference.to_string()).ok_or_else(|| ApiError::not_found("module"))?;
    let driver = state.engine.drivers().get(&view.module.driver);
    let functions: Vec<_> = driver.map(|d| d.functions.iter().filter(|f| !f.webhook).collect()).unwrap_or_default();
    Ok(shell(
        &reference.to_string(),
        Some(signed),
        html! {
            p.crumbs { a href="/console/systems" { "Systems" } " / " a href=(format!("/console/systems/{system}")) { "System" } " / " }
            h1 { (reference.to_string()) }
            p.id { (view.module.driver) " · " code { (view.module.id) } " · " a href=(format!("/console/modules/{}", view.module.id)) { "Settings" } }
            section.card.live aria-labelledby="status" data-live-module=(view.module.id) data-live-system=(system) {
                h2 id="status" { "Status" }
                dl data-live="status" {
                    @for (key, value) in &status { dt { (key) } dd data-status=(key) { (shown(value)) } }
                }
            }
            @if let Some(called) = &called {
                @match &called.outcome {
                    Ok(value) => div.result role="status" { p { (called.function) " answered:" } pre { (value) } },
                    Err((code, message)) => div.error role="alert" { p { (message) } p.code { "code: " (code) } },
                }
            }
            h2 { "Functions" }
            @for function in &functions {
                section.card {
                    h3 { (function.name) }
                    @if !function.description.is_empty() { p { (function.description) } }
                    // Support keys read: the console calls nothing for them.
                    @if signed.is_admin() {
                        form method="post" action=(format!("/console/systems/{system}/{reference}/{}", function.name)) {
                            (csrf(signed))
                            @for param in &function.params { (param_input("args", param, None, &None)) }
                            button type="submit" { (format!("Call {}", function.name)) }
                        }
                    }
                }
            }
        },
    ))
}

async fn call(
    signed: Signed,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let fields = Fields::for_admin(&body, &signed)?;
    let (system, module, method) = path.into_inner();
    let reference = ModuleRef::parse(&module).map_err(|_| ApiError::not_found("module"))?;
    let id = system_id(&system)?;
    let params = module_params(&state, &id, &reference, &method).await?;
    let outcome = match typed(&fields, "args", &params) {
        Ok(args) => {
            state.engine.call_function(id, &reference, &method, Value::Object(args), signed.caller, None).await.map_err(
                |e| {
                    let e = ApiError::from(e);
                    (e.code().to_owned(), e.to_string())
                },
            )
        }
        Err((_, message)) => Err(("invalid_args".to_owned(), message)),
    };
    let called = Called { function: method, outcome };
    let body = module_page(&signed, &state, &(system, module), Some(called)).await?;
    Ok(page(StatusCode::OK, body))
}

async fn module_params(
    state: &AppState,
    system: &SystemId,
    reference: &ModuleRef,
    method: &str,
) -> Result<Vec<Param>, ConsoleError> {
    let views = state.engine.system_modules(system.clone()).await?;
    let view =
        views.iter().find(|v| reference_of(v) == reference.to_string()).ok_or_else(|| ApiError::not_found("module"))?;
    let driver = state.engine.drivers().get(&view.module.driver).ok_or_else(|| ApiError::not_found("driver"))?;
    Ok(driver.functions.iter().find(|f| f.name == method).map(|f| f.params.clone()).unwrap_or_default())
}
