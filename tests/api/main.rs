//! One integration-test binary: every test starts the real server on a port-0 listener with a
//! temporary sled directory.

mod helpers;

mod axe;
mod browser;

#[path = "../../examples/counter_driver.rs"]
mod counter_driver;

mod api_keys;
mod auth;
mod callouts;
mod conditions;
mod config;
mod console;
mod console_admin;
mod console_flows;
mod console_guards;
mod console_http;
mod console_outbound;
mod console_triggers;
mod crash;
mod dedup;
mod drivers;
mod event_actors;
mod example_driver;
mod exec;
mod filters;
mod hardening;
mod health;
mod instances;
mod isolation;
mod journal;
mod modules;
mod openapi;
mod operability;
mod outbound;
mod placeholders;
mod receipts;
mod restart;
mod run_driver;
mod runs;
mod schemathesis;
mod smtp_server;
mod store_faults;
mod systems;
mod test_driver;
mod triggers;
mod verification;
mod webhook;
