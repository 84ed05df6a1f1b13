-- The last apply failure as a reason and a message in their own columns
-- (it was one `Reason: message` string in sync_error).
ALTER TABLE functions ADD COLUMN sync_reason TEXT;
ALTER TABLE functions ADD COLUMN sync_message TEXT;
UPDATE functions SET
    sync_reason = CASE
        WHEN split_part(sync_error, ': ', 1) IN
            ('ClusterUnavailable', 'WaitingForNamespace', 'QuotaPending', 'QuotaExceeded', 'ApplyFailed', 'SyncFailed')
        THEN split_part(sync_error, ': ', 1)
        ELSE 'ClusterUnavailable' END,
    sync_message = CASE
        WHEN split_part(sync_error, ': ', 1) IN
            ('ClusterUnavailable', 'WaitingForNamespace', 'QuotaPending', 'QuotaExceeded', 'ApplyFailed', 'SyncFailed')
        THEN substr(sync_error, strpos(sync_error, ': ') + 2)
        ELSE sync_error END
WHERE sync_error IS NOT NULL;
ALTER TABLE functions DROP COLUMN sync_error;
ALTER TABLE functions ADD CONSTRAINT functions_sync_failure_whole
    CHECK ((sync_reason IS NULL) = (sync_message IS NULL));
