-- Event Streams: one row per CloudEvent of a captured batch, under the request that carried it.
-- The request itself stays one byte-exact row (it was one HTTP request, acknowledged as a
-- whole); these rows are what filters, the task timeline and reservation state read per event.
CREATE TABLE request_events (
    id                 INTEGER PRIMARY KEY,
    request_id         INTEGER NOT NULL,
    -- Position in the batch, from 0.
    seq                INTEGER NOT NULL,
    -- The CloudEvent `id` (deduplication key), `type` and `source` as sent.
    ce_id              TEXT,
    ce_type            TEXT    NOT NULL,
    source             TEXT,
    -- `X` of `com.twilio.taskrouter.X`; NULL for other products' events.
    event_type         TEXT,
    account_sid        TEXT,
    workspace_sid      TEXT,
    task_sid           TEXT,
    reservation_sid    TEXT,
    worker_sid         TEXT,
    worker_name        TEXT,
    reservation_status TEXT,
    -- µs since the epoch when the event happened (payload timestamp, else CloudEvent time).
    event_time         INTEGER,
    -- The request id of the first record of this CloudEvent id, when this one repeats it.
    duplicate_of       INTEGER
) STRICT;

CREATE INDEX request_events_by_request     ON request_events (request_id, seq);
CREATE INDEX request_events_by_ce_id       ON request_events (ce_id) WHERE ce_id IS NOT NULL;
CREATE INDEX request_events_by_event_type  ON request_events (event_type, request_id) WHERE event_type IS NOT NULL;
CREATE INDEX request_events_by_workspace   ON request_events (workspace_sid, request_id) WHERE workspace_sid IS NOT NULL;
CREATE INDEX request_events_by_task        ON request_events (task_sid, request_id) WHERE task_sid IS NOT NULL;
CREATE INDEX request_events_by_reservation ON request_events (reservation_sid, request_id) WHERE reservation_sid IS NOT NULL;
CREATE INDEX request_events_by_worker      ON request_events (worker_sid, request_id) WHERE worker_sid IS NOT NULL;

-- Retention and "clear all" delete requests; their events go with them, without either
-- having to know about this table.
CREATE TRIGGER request_events_follow_requests AFTER DELETE ON requests
BEGIN
    DELETE FROM request_events WHERE request_id = old.id;
END;
