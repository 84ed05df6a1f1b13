-- A random id for this catalog, stamped on every custom resource it applies,
-- so the resync only ever deletes orphans that this catalog created.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
