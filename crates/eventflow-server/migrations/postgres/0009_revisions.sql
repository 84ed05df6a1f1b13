-- Revisions (issue 14): every change of a function's spec, numbered by the
-- function's generation, immutable. Written by the function write itself,
-- in its transaction. Functions that exist already get their current spec
-- as their first revision.
CREATE TABLE function_revisions (
    tenant_id      TEXT NOT NULL,
    function_name  TEXT NOT NULL,
    revision       BIGINT NOT NULL,
    spec_json      TEXT NOT NULL,
    actor          TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    -- The revision this one restored, for a rollback.
    rollback_of    BIGINT,
    PRIMARY KEY (tenant_id, function_name, revision),
    FOREIGN KEY (tenant_id, function_name) REFERENCES functions (tenant_id, name) ON DELETE CASCADE
);
INSERT INTO function_revisions (tenant_id, function_name, revision, spec_json, actor, created_at)
    SELECT tenant_id, name, generation, spec_json, 'before revisions were kept', updated_at FROM functions;
