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
