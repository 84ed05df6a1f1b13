-- Request-based scaling (issue 12). The scaler's last decision and the last
-- cold start, per function, for the API's status.
ALTER TABLE functions ADD COLUMN scale_desired BIGINT;
ALTER TABLE functions ADD COLUMN scale_at BIGINT;
ALTER TABLE functions ADD COLUMN scale_reason TEXT;
ALTER TABLE functions ADD COLUMN cold_start_at BIGINT;
ALTER TABLE functions ADD COLUMN cold_start_ms BIGINT;

-- What each server replica's gateway sees: in-flight invocations and the
-- last request per function, written about once a second; the scaler sums
-- the fresh rows of all replicas.
CREATE TABLE function_load (
    replica          TEXT NOT NULL,
    tenant_id        TEXT NOT NULL,
    name             TEXT NOT NULL,
    in_flight        BIGINT NOT NULL,
    last_request_at  BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (replica, tenant_id, name)
);
