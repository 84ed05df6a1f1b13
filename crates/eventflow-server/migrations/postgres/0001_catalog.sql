-- EventFlow catalog (PostgreSQL). Times are Unix milliseconds; JSON is TEXT.
CREATE TABLE tenants (
    id           TEXT PRIMARY KEY,
    email        TEXT,
    spec_json    TEXT NOT NULL DEFAULT '{}',
    max_replicas BIGINT,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    prefix       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    tenant_id    TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    role         TEXT NOT NULL,
    name         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    last_used_at BIGINT
);

CREATE TABLE functions (
    tenant_id           TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name                TEXT NOT NULL,
    spec_json           TEXT NOT NULL,
    generation          BIGINT NOT NULL,
    applied_generation  BIGINT NOT NULL DEFAULT 0,
    status_json         TEXT NOT NULL DEFAULT '{}',
    sync_error          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE outbox (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    name        TEXT,
    created_at  BIGINT NOT NULL,
    attempts    BIGINT NOT NULL DEFAULT 0,
    not_before  BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX outbox_due ON outbox (not_before, id);

CREATE TABLE audit_log (
    id        BIGSERIAL PRIMARY KEY,
    at        BIGINT NOT NULL,
    actor     TEXT NOT NULL,
    tenant_id TEXT,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
