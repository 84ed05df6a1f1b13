-- A tenant's secrets (issue 14). `data` is the JSON map of keys and
-- values, sealed with the server's key (AES-256-GCM, see keyring.rs); the
-- key names and the size are kept beside it in the clear for listings.
-- `version` counts replacements: the functions that read a secret roll
-- when it changes.
CREATE TABLE secrets (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    data        TEXT NOT NULL,
    keys_json   TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
