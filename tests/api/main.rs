//! One integration-test binary: every test starts the real server on a port-0 listener with a
//! temporary sled directory.

mod helpers;

mod api_keys;
mod auth;
mod config;
mod crash;
mod health;
mod instances;
mod modules;
mod restart;
mod systems;
mod triggers;
mod webhook;
