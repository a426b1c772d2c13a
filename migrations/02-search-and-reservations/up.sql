-- Full-text index over a readable rendering of each request: path, decoded query and form
-- fields, body text. Contentless (the text is derived; the raw bytes stay in requests), with
-- delete support so retention can remove rows. rowid = requests.id.
CREATE VIRTUAL TABLE requests_fts USING fts5 (text, content = '', contentless_delete = 1);

-- One row per ReservationSid seen, kept current by the writer in the same transaction as the
-- request that changed it, so the reservations view never scans requests.
CREATE TABLE reservations (
    reservation_sid  TEXT    PRIMARY KEY,
    task_sid         TEXT,
    workspace_sid    TEXT,
    worker_sid       TEXT,
    -- WorkerName from event callbacks, or worker_name from a REST answer.
    worker_name      TEXT,
    -- µs since the epoch of the assignment callback (or reservation.created) that offered it.
    offered_at       INTEGER,
    -- pending / accepted / rejected / timeout / canceled / rescinded / completed / wrapping.
    status           TEXT    NOT NULL,
    -- µs since the epoch of the callback or action that set the status.
    status_at        INTEGER NOT NULL,
    first_request_id INTEGER NOT NULL,
    last_request_id  INTEGER NOT NULL
) STRICT;

CREATE INDEX reservations_by_last_request ON reservations (last_request_id);
CREATE INDEX reservations_by_task         ON reservations (task_sid) WHERE task_sid IS NOT NULL;

-- Remaining list filters: exact path and response status.
CREATE INDEX requests_by_path   ON requests (path, id);
CREATE INDEX requests_by_status ON requests (response_status, id);
