-- A tenant's registry logins (issue 11, item 10). The password is only
-- ever read by the sync, which writes the tenant's pull Secret
-- `eventflow-registry`; the API never returns it.
CREATE TABLE registry_credentials (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    registry    TEXT NOT NULL,
    username    TEXT NOT NULL,
    password    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, registry)
);

-- Every existing tenant gets its (empty) pull Secret once.
INSERT INTO outbox (kind, tenant_id, name, created_at)
SELECT 'registry', id, NULL, 0 FROM tenants;
