-- Asynchronous invocations (issue 13): the durable queue and the record of
-- each invocation. A row is written before the caller gets its 202; server
-- replicas claim due rows with a lease (SQLite has one writer at a time, so one UPDATE … RETURNING claims), renew it
-- while they work, and another replica takes a row over once its lease
-- expired (at-least-once).
CREATE TABLE invocations (
    seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
    id                  TEXT NOT NULL UNIQUE,
    tenant_id           TEXT NOT NULL,
    function_name       TEXT NOT NULL,
    -- queued | running | succeeded | failed | dead
    status              TEXT NOT NULL,
    -- 'api', or 'schedule:NAME'
    source              TEXT NOT NULL,
    method              TEXT NOT NULL,
    path                TEXT NOT NULL,
    query               TEXT,
    headers_json        TEXT NOT NULL,
    body                BLOB NOT NULL,
    callback_url        TEXT,
    attempts            BIGINT NOT NULL DEFAULT 0,
    max_attempts        BIGINT NOT NULL,
    next_attempt_at     BIGINT NOT NULL,
    lease_owner         TEXT,
    lease_until         BIGINT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    finished_at         BIGINT,
    response_status     BIGINT,
    response_headers    TEXT,
    response_body       BLOB,
    response_truncated  BIGINT NOT NULL DEFAULT 0,
    last_error          TEXT,
    callback_status     TEXT,
    FOREIGN KEY (tenant_id, function_name) REFERENCES functions (tenant_id, name) ON DELETE CASCADE
);
-- The workers' claim: due queued rows, and running rows whose lease ended.
CREATE INDEX invocations_due ON invocations (status, next_attempt_at);
-- A function's history, newest first.
CREATE INDEX invocations_by_function ON invocations (tenant_id, function_name, seq);
-- The retention pruner and the queue-depth check, per tenant.
CREATE INDEX invocations_by_tenant ON invocations (tenant_id, status, seq);

CREATE TABLE invocation_attempts (
    invocation_seq  BIGINT NOT NULL REFERENCES invocations (seq) ON DELETE CASCADE,
    n               BIGINT NOT NULL,
    started_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    -- The function's HTTP status, when it answered.
    status          BIGINT,
    -- succeeded | retry | failed | lost (NULL while running)
    outcome         TEXT,
    error           TEXT,
    replica         TEXT NOT NULL,
    PRIMARY KEY (invocation_seq, n)
);
