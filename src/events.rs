//! Engine events: what happened, in the envelope outbound webhooks and the live event stream share.
//!
//! An event about a stored change is built with [`EventBus::make`], staged into the durable sink (the
//! outbound delivery queue) inside the transaction that stores the change, and broadcast to live
//! listeners (the SSE stream) after the commit. Events with no other record go through
//! [`EventBus::publish`], which records them durably first and then broadcasts them.

pub mod context;

use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;
use tokio::sync::broadcast;

use crate::domain::actor::Actor;
use crate::domain::ids::SubscriptionId;

/// `{"id": "evt_…", "event": "trigger.fired", "timestamp": RFC 3339, "system_id": …, "actor": {…},
/// "request_id": …, "data": {…}}`
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = Event)]
pub struct EngineEvent {
    /// `evt_…`, the same in every delivery of the event.
    pub id: String,
    pub event: String,
    /// RFC 3339 with milliseconds, UTC.
    pub timestamp: String,
    pub system_id: Option<String>,
    /// Who or what caused it (events queued before actors existed read as the system's).
    #[serde(default)]
    pub actor: Actor,
    /// The request that caused it, if one did.
    #[serde(default)]
    pub request_id: Option<String>,
    #[schema(schema_with = crate::domain::schema::any)]
    pub data: Value,
}

impl EngineEvent {
    /// An event caused by the current actor (see [`context`]).
    pub fn new(event: &str, system_id: Option<&str>, data: Value) -> Self {
        let (actor, request_id) = context::current();
        Self {
            id: format!("evt_{}", uuid::Uuid::now_v7().simple()),
            event: event.to_owned(),
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            system_id: system_id.map(str::to_owned),
            actor,
            request_id,
            data,
        }
    }
}

/// Where events are recorded durably: the outbound deliveries. The store writes each event the sink
/// wants into its outbox, with the subscriptions it is for, in the same transaction as the change it
/// describes; the sink then moves outbox entries into delivery queues.
#[async_trait::async_trait]
pub trait EventSink: Send + Sync + 'static {
    /// Whether anyone wants this event recorded; cheap and in memory, so events nobody subscribed to
    /// cost no storage call.
    fn wants(&self, event_type: &str, system_id: Option<&str>) -> bool;
    /// The subscriptions that want `event` now; in memory, called inside the store's transaction so
    /// that a subscription created while a change waits for its write still gets the change's event.
    fn targets(&self, event: &EngineEvent) -> Vec<SubscriptionId>;
    /// Records an event that no stored change carries.
    async fn record(&self, event: &EngineEvent);
    /// Told after a transaction that wrote to the outbox has committed and been flushed.
    fn staged(&self);
}

pub struct EventBus {
    live: broadcast::Sender<EngineEvent>,
    sink: OnceLock<Arc<dyn EventSink>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self { live: broadcast::channel(4096).0, sink: OnceLock::new() }
    }
}

impl EventBus {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Installs the durable sink; only the first call has an effect.
    pub fn set_sink(&self, sink: Arc<dyn EventSink>) {
        let _ = self.sink.set(sink);
    }

    pub fn sink(&self) -> Option<&Arc<dyn EventSink>> {
        self.sink.get()
    }

    /// Whether the durable sink wants events of this type and system.
    pub fn sink_wants(&self, event: &str, system_id: Option<&str>) -> bool {
        self.sink.get().is_some_and(|s| s.wants(event, system_id))
    }

    pub fn has_listeners(&self) -> bool {
        self.live.receiver_count() > 0
    }

    /// The event, as a list of zero or one, if a live listener or a durable sink may want it: the data
    /// is built only then. The caller commits it with its change and then broadcasts it. Whether a
    /// subscription wants it is decided by the sink inside that transaction, not here: a subscription
    /// created while the caller waits for its write must still get the event.
    pub fn make(&self, event: &str, system_id: Option<&str>, data: impl FnOnce() -> Value) -> Vec<EngineEvent> {
        if self.has_listeners() || self.sink().is_some() {
            vec![EngineEvent::new(event, system_id, data())]
        } else {
            Vec::new()
        }
    }

    pub fn broadcast_all(&self, events: Vec<EngineEvent>) {
        for event in events {
            self.broadcast(event);
        }
    }

    /// Sends to live listeners only (the caller recorded the event durably itself).
    pub fn broadcast(&self, event: EngineEvent) {
        let _ = self.live.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        self.live.subscribe()
    }

    pub async fn publish(&self, event: EngineEvent) {
        if let Some(sink) = self.sink.get().filter(|s| s.wants(&event.event, event.system_id.as_deref())) {
            sink.record(&event).await;
        }
        // No live listener is fine.
        let _ = self.live.send(event);
    }

    pub async fn emit(&self, event: &str, system_id: Option<&str>, data: Value) {
        self.emit_with(event, system_id, || data).await;
    }

    /// Publishes only if a live listener or the sink wants the event, building its data only then:
    /// hot paths emit several events per request that usually nobody is listening for.
    pub async fn emit_with(&self, event: &str, system_id: Option<&str>, data: impl FnOnce() -> Value) {
        let wanted = self.live.receiver_count() > 0 || self.sink.get().is_some_and(|s| s.wants(event, system_id));
        if wanted {
            self.publish(EngineEvent::new(event, system_id, data())).await;
        }
    }
}

/// Consumes a broadcast channel until it closes or `shutdown` is cancelled; `on_lag` hears how many
/// items a slow consumer missed.
pub async fn consume<T, I, IF, L, LF>(
    mut items: broadcast::Receiver<T>,
    shutdown: tokio_util::sync::CancellationToken,
    mut on_item: I,
    mut on_lag: L,
) where
    T: Clone,
    I: FnMut(T) -> IF,
    IF: std::future::Future<Output = ()>,
    L: FnMut(u64) -> LF,
    LF: std::future::Future<Output = ()>,
{
    use broadcast::error::RecvError;
    loop {
        let item = tokio::select! {
            item = items.recv() => item,
            _ = shutdown.cancelled() => return,
        };
        match item {
            Ok(item) => on_item(item).await,
            Err(RecvError::Lagged(missed)) => on_lag(missed).await,
            Err(RecvError::Closed) => return,
        }
    }
}
