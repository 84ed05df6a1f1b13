-- One row: which server replica applies the catalog to Kubernetes (drains
-- the outbox and runs the resync). A replica holds it while it renews it
-- before `expires_at` (ms since the epoch); any replica may take it after.
CREATE TABLE sync_lease (
    id         INTEGER PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
INSERT INTO sync_lease (id, holder, expires_at) VALUES (1, '', 0);
