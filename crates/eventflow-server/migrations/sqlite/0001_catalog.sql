-- EventFlow catalog (SQLite). Times are Unix milliseconds; JSON is TEXT.
CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    email        TEXT,
    spec_json    TEXT NOT NULL DEFAULT '{}',
    max_replicas INTEGER,
    created_at   INTEGER NOT NULL,
    created_by   TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    tenant_id    TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
);

CREATE TABLE functions (
    tenant_id           TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    spec_json           TEXT NOT NULL,
    generation          INTEGER NOT NULL,
    applied_generation  INTEGER NOT NULL DEFAULT 0,
    status_json         TEXT NOT NULL DEFAULT '{}',
    sync_error          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    name        TEXT,
    created_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX outbox_due ON outbox (not_before, id);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    tenant_id TEXT,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
