-- The image digest the node resolved for a revision (issue 14), where
-- known: recorded once the function ran that revision with every ready pod
-- on one digest (the operator's status.imageDigest).
ALTER TABLE function_revisions ADD COLUMN image_digest TEXT;
