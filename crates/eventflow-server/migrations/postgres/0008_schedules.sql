-- Cron triggers (issue 13): where each schedule of each function stands.
-- The spec holds the schedules; a function write brings these rows in line
-- in its transaction. Each server replica's scheduler claims a due slot by
-- moving `next_at` on (compare-and-set) in the same transaction that
-- enqueues the slot's invocation, so a slot fires once across replicas.
CREATE TABLE schedules (
    tenant_id           TEXT NOT NULL,
    function_name       TEXT NOT NULL,
    name                TEXT NOT NULL,
    -- The expression and zone `next_at` was computed from.
    cron                TEXT NOT NULL,
    time_zone           TEXT,
    next_at             BIGINT,
    last_at             BIGINT,
    last_invocation_id  TEXT,
    PRIMARY KEY (tenant_id, function_name, name),
    FOREIGN KEY (tenant_id, function_name) REFERENCES functions (tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX schedules_due ON schedules (next_at);
