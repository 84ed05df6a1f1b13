-- Invoke keys (issue 14): keys that may only invoke one function, for
-- webhooks. Only a SHA-256 of each key is kept (keys are 40 random
-- characters); the key itself is shown once, when it is made.
CREATE TABLE invoke_keys (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    function_name  TEXT NOT NULL,
    name           TEXT NOT NULL,
    prefix         TEXT NOT NULL,
    key_hash       TEXT NOT NULL UNIQUE,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    revoked_at     BIGINT,
    last_used_at   BIGINT,
    FOREIGN KEY (tenant_id, function_name) REFERENCES functions (tenant_id, name) ON DELETE CASCADE
);
CREATE INDEX invoke_keys_by_function ON invoke_keys (tenant_id, function_name);
