// The API suite, included by each backend's test binary (`tests/api` on sled, `tests/api_postgres` on
// PostgreSQL). Paths are written from this folder's parent, so they resolve from either binary's folder.

#[path = "../support/postgres.rs"]
mod postgres_support;

#[path = "../../examples/counter_driver.rs"]
mod counter_driver;

#[path = "../api/helpers.rs"]
mod helpers;
#[path = "../api/axe.rs"]
mod axe;
#[path = "../api/browser.rs"]
mod browser;
#[path = "../api/api_keys.rs"]
mod api_keys;
#[path = "../api/auth.rs"]
mod auth;
#[path = "../api/callouts.rs"]
mod callouts;
#[path = "../api/conditions.rs"]
mod conditions;
#[path = "../api/config.rs"]
mod config;
#[path = "../api/console.rs"]
mod console;
#[path = "../api/console_admin.rs"]
mod console_admin;
#[path = "../api/console_flows.rs"]
mod console_flows;
#[path = "../api/console_guards.rs"]
mod console_guards;
#[path = "../api/console_http.rs"]
mod console_http;
#[path = "../api/console_outbound.rs"]
mod console_outbound;
#[path = "../api/console_triggers.rs"]
mod console_triggers;
#[path = "../api/control_chars.rs"]
mod control_chars;
#[path = "../api/crash.rs"]
mod crash;
#[path = "../api/dedup.rs"]
mod dedup;
#[path = "../api/drivers.rs"]
mod drivers;
#[path = "../api/event_actors.rs"]
mod event_actors;
#[path = "../api/example_driver.rs"]
mod example_driver;
#[path = "../api/exec.rs"]
mod exec;
#[path = "../api/filters.rs"]
mod filters;
#[path = "../api/hardening.rs"]
mod hardening;
#[path = "../api/health.rs"]
mod health;
#[path = "../api/instances.rs"]
mod instances;
#[path = "../api/isolation.rs"]
mod isolation;
#[path = "../api/modules.rs"]
mod modules;
#[path = "../api/openapi.rs"]
mod openapi;
#[path = "../api/operability.rs"]
mod operability;
#[path = "../api/outbound.rs"]
mod outbound;
#[path = "../api/placeholders.rs"]
mod placeholders;
#[path = "../api/receipts.rs"]
mod receipts;
#[path = "../api/restart.rs"]
mod restart;
#[path = "../api/run_driver.rs"]
mod run_driver;
#[path = "../api/runs.rs"]
mod runs;
#[path = "../api/schemathesis.rs"]
mod schemathesis;
#[path = "../api/smtp_server.rs"]
mod smtp_server;
#[path = "../api/systems.rs"]
mod systems;
#[path = "../api/test_driver.rs"]
mod test_driver;
#[path = "../api/triggers.rs"]
mod triggers;
#[path = "../api/verification.rs"]
mod verification;
#[path = "../api/webhook.rs"]
mod webhook;
