//! Outbound webhook subscriptions: `/api/engine/v2/webhooks…`. (Being built: see the outbound issue.)

use actix_web::web;

/// Routes under `/api/engine/v2`.
pub fn routes(_cfg: &mut web::ServiceConfig) {}
