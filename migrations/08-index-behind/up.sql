-- Indexing moves behind the acknowledgement (issue 17). The acknowledging transaction stores the
-- raw record (the row, derived columns included, which cost nothing extra to write inline) with
-- indexed = 0; the writer's indexer then sets indexed = 1 in its own transaction, together with
-- the full-text entry, the reservation state and the CloudEvents rows. Every index that only
-- serves reading is partial on indexed = 1, so the acknowledging insert touches none of them.
-- A crash between the two leaves rows with indexed = 0, which the next start indexes.
ALTER TABLE requests ADD COLUMN indexed INTEGER NOT NULL DEFAULT 1 CHECK (indexed IN (0, 1));

-- What the indexer still has to do, oldest first; tiny, since rows leave it within milliseconds.
CREATE INDEX requests_unindexed ON requests (id) WHERE indexed = 0;

DROP INDEX requests_by_kind;
DROP INDEX requests_by_event_type;
DROP INDEX requests_by_workspace;
DROP INDEX requests_by_task;
DROP INDEX requests_by_reservation;
DROP INDEX requests_by_worker;
DROP INDEX requests_by_path;
DROP INDEX requests_by_status;

-- Keyset pagination walks id downwards inside each filter, so every filter index ends in id.
-- requests_by_received_at (retention by age) and requests_by_replay_of (the foreign key) stay
-- as they are: both are written in order or rarely.
CREATE INDEX requests_by_kind        ON requests (kind, id) WHERE indexed = 1;
CREATE INDEX requests_by_event_type  ON requests (event_type, id) WHERE event_type IS NOT NULL AND indexed = 1;
CREATE INDEX requests_by_workspace   ON requests (workspace_sid, id) WHERE workspace_sid IS NOT NULL AND indexed = 1;
CREATE INDEX requests_by_task        ON requests (task_sid, id) WHERE task_sid IS NOT NULL AND indexed = 1;
CREATE INDEX requests_by_reservation ON requests (reservation_sid, id) WHERE reservation_sid IS NOT NULL AND indexed = 1;
CREATE INDEX requests_by_worker      ON requests (worker_sid, id) WHERE worker_sid IS NOT NULL AND indexed = 1;
CREATE INDEX requests_by_path        ON requests (path, id) WHERE indexed = 1;
CREATE INDEX requests_by_status      ON requests (response_status, id) WHERE indexed = 1;

-- The full-text index's term list, read by search to spell a prefix out as whole terms (which
-- FTS5 reads lazily, newest first) instead of a prefix query (which it merges in full first).
-- A view onto requests_fts: it stores nothing.
CREATE VIRTUAL TABLE requests_fts_vocab USING fts5vocab (requests_fts, 'row');
