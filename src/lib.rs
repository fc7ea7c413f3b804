#![forbid(unsafe_code)]
//! Switchboard: a trigger-and-module automation engine.

pub mod config;
pub mod console;
pub mod domain;
pub mod drivers;
pub mod engine;
pub mod events;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod metrics;
pub mod outbound;
pub mod readiness;
pub mod startup;
pub mod store;
pub mod telemetry;
