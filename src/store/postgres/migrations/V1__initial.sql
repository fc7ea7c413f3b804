-- Every table keeps its record as `doc`: the serde JSON the sled backend stores, so the same types
-- read both. Beside it are the columns that are filtered, ordered or constrained on. Ids compare
-- byte-wise (COLLATE "C"): they are prefixed UUIDv7s, so id order is creation order, as sled's key order.
-- `*_lc` columns are lowercased by the application (as Rust lowercases) for the `q` filters, so that
-- matching does not depend on the database's locale.

CREATE TABLE systems (
    id text COLLATE "C" PRIMARY KEY,
    name_lc text NOT NULL,
    description_lc text NOT NULL,
    -- Its `modules` list is the system's module order (the order module references count in).
    doc jsonb NOT NULL
);

CREATE TABLE modules (
    id text COLLATE "C" PRIMARY KEY,
    -- One column: a module belongs to at most one system. A system is deleted only once its modules
    -- have left it (the application does that in the same transaction).
    system_id text COLLATE "C" REFERENCES systems (id),
    driver text NOT NULL,
    driver_lc text NOT NULL,
    custom_name_lc text,
    doc jsonb NOT NULL
);
CREATE INDEX modules_by_system ON modules (system_id);

-- Each module's last status map.
CREATE TABLE module_status (
    module_id text COLLATE "C" PRIMARY KEY REFERENCES modules (id) ON DELETE CASCADE,
    doc jsonb NOT NULL
);

CREATE TABLE triggers (
    id text COLLATE "C" PRIMARY KEY,
    name_lc text NOT NULL,
    description_lc text NOT NULL,
    doc jsonb NOT NULL
);

-- A trigger applied to a system: it goes with either.
CREATE TABLE instances (
    id text COLLATE "C" PRIMARY KEY,
    system_id text COLLATE "C" NOT NULL REFERENCES systems (id) ON DELETE CASCADE,
    trigger_id text COLLATE "C" NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
    doc jsonb NOT NULL
);
CREATE INDEX instances_by_system ON instances (system_id, id);
CREATE INDEX instances_by_trigger ON instances (trigger_id, id);

-- An instance's runtime state; every instance has one from its creation.
CREATE TABLE instance_state (
    instance_id text COLLATE "C" PRIMARY KEY REFERENCES instances (id) ON DELETE CASCADE,
    -- Grows with every change: a write older than the stored state is ignored.
    version bigint NOT NULL,
    doc jsonb NOT NULL
);

CREATE TABLE api_keys (
    id text COLLATE "C" PRIMARY KEY,
    doc jsonb NOT NULL
);

CREATE TABLE callouts (
    id text COLLATE "C" PRIMARY KEY,
    -- A callout scoped to a system goes with it.
    system_id text COLLATE "C" REFERENCES systems (id) ON DELETE CASCADE,
    doc jsonb NOT NULL
);
CREATE INDEX callouts_by_system ON callouts (system_id);

-- Each time a callout was asked. Entry ids are UUIDv7s: one callout's entries in id order are oldest first.
CREATE TABLE callout_log (
    callout_id text COLLATE "C" NOT NULL REFERENCES callouts (id) ON DELETE CASCADE,
    entry_id text COLLATE "C" NOT NULL,
    -- Epoch milliseconds, for the retention sweep.
    at bigint NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (callout_id, entry_id)
);
CREATE INDEX callout_log_by_time ON callout_log (at);

-- Events written in the same transaction as the change they describe; the outbound side drains it.
CREATE TABLE outbox (
    seq bigserial PRIMARY KEY,
    event jsonb NOT NULL,
    -- The subscriptions that wanted the event when it was written (ids, a JSON array).
    targets jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Runs of a fire's actions, one per fire of an instance; they go with their instance.
CREATE TABLE runs (
    instance_id text COLLATE "C" NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    -- The instance's trigger count after the fire: an instance's runs in fire order.
    fire bigint NOT NULL,
    id text COLLATE "C" NOT NULL UNIQUE,
    status text NOT NULL,
    finished boolean NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (instance_id, fire)
);
-- The runs a start resumes.
CREATE INDEX runs_open ON runs (instance_id, fire) WHERE NOT finished;

-- Receipts of webhook calls; they go with their instance. Receipt ids are UUIDv7s: id order is time order.
CREATE TABLE receipts (
    id text COLLATE "C" PRIMARY KEY,
    instance_id text COLLATE "C" NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    -- Epoch milliseconds; the HTTP status answered; whether the call fired: the listing's filters.
    received_at bigint NOT NULL,
    status integer NOT NULL,
    fired boolean NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX receipts_by_instance ON receipts (instance_id, id);

-- Delivery ids each instance has seen (a `SeenDelivery` as `doc`), for deduplication.
CREATE TABLE webhook_deliveries (
    instance_id text COLLATE "C" NOT NULL REFERENCES instances (id) ON DELETE CASCADE,
    delivery_id text COLLATE "C" NOT NULL,
    -- Epoch milliseconds, for the retention sweep and the order they are read in.
    at bigint NOT NULL,
    doc jsonb NOT NULL,
    PRIMARY KEY (instance_id, delivery_id)
);
CREATE INDEX webhook_deliveries_by_time ON webhook_deliveries (at);

-- Outbound webhook subscriptions (secrets included, as on sled).
CREATE TABLE outbound_subscriptions (
    id text COLLATE "C" PRIMARY KEY,
    name_lc text NOT NULL,
    url_lc text NOT NULL,
    doc jsonb NOT NULL
);

-- Each subscription's deliveries in the order their events were drained from the outbox: the lowest
-- `seq` is the head, the only one attempted. A `QueuedDelivery` as `doc`; they go with their subscription.
CREATE TABLE outbound_queue (
    seq bigserial PRIMARY KEY,
    subscription_id text COLLATE "C" NOT NULL REFERENCES outbound_subscriptions (id) ON DELETE CASCADE,
    -- Epoch milliseconds (the doc's `queued_at_ms`), for the retention sweep.
    queued_at_ms bigint NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX outbound_queue_by_subscription ON outbound_queue (subscription_id, seq);
CREATE INDEX outbound_queue_by_time ON outbound_queue (queued_at_ms);

-- Each subscription's delivery attempts (a `DeliveryAttempt` as `doc`), oldest first in `seq` order.
CREATE TABLE outbound_log (
    seq bigserial PRIMARY KEY,
    subscription_id text COLLATE "C" NOT NULL REFERENCES outbound_subscriptions (id) ON DELETE CASCADE,
    -- Epoch seconds, for pruning.
    attempted_at bigint NOT NULL,
    doc jsonb NOT NULL
);
CREATE INDEX outbound_log_by_subscription ON outbound_log (subscription_id, seq);
CREATE INDEX outbound_log_by_time ON outbound_log (attempted_at);
