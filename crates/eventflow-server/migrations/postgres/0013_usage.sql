-- Usage for metering (issue 15): per tenant per UTC day, the invocations
-- that reached a function (every server replica adds what its gateway
-- served) and the replica-seconds of ready replicas (the leading replica
-- adds them as it samples the functions' status). No foreign key: a
-- deleted tenant's usage stays to be billed.
CREATE TABLE tenant_usage (
    tenant_id        TEXT NOT NULL,
    day              TEXT NOT NULL,
    invocations      BIGINT NOT NULL DEFAULT 0,
    replica_seconds  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, day)
);
CREATE INDEX tenant_usage_day ON tenant_usage (day);
