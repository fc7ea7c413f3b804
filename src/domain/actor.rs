//! Who or what caused a change: every event names it.

use serde::{Deserialize, Serialize};

use super::{ApiKeyId, ReceiptId};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Actor {
    /// A call of the admin API; `id` is `null` for the key set in the configuration.
    ApiKey { id: Option<ApiKeyId>, name: String },
    /// A trigger webhook call, by its receipt.
    Webhook { receipt: ReceiptId },
    /// A time condition falling due.
    Schedule,
    /// The engine itself: a status change, an action, a window closing, a retry.
    #[default]
    System,
}
