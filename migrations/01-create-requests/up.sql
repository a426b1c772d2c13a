-- Every HTTP request that reached the capture listener, stored byte-exact, plus the response sent.
-- Rows are written only by the store writer; a caller is answered only after its row is committed.
CREATE TABLE requests (
    -- Monotonic sequence; AUTOINCREMENT so an id is never reused after retention deletes old rows.
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Microseconds since the Unix epoch (UTC) when the request head arrived.
    received_at      INTEGER NOT NULL,
    remote_addr      TEXT    NOT NULL,
    method           TEXT    NOT NULL,
    -- Path exactly as sent (percent-encoding kept); query without the '?', NULL when there was none.
    path             TEXT    NOT NULL,
    query            TEXT,
    http_version     TEXT    NOT NULL,
    -- Header block as received: "Name: value\r\n" per header, arrival order, original case,
    -- raw value bytes (may be non-UTF-8).
    headers          BLOB    NOT NULL,
    -- Raw body bytes (at most --max-body of them).
    body             BLOB    NOT NULL,
    -- Body bytes received on the wire; larger than length(body) when truncated.
    body_size        INTEGER NOT NULL,
    body_truncated   INTEGER NOT NULL DEFAULT 0 CHECK (body_truncated IN (0, 1)),
    response_status  INTEGER NOT NULL,
    -- Same encoding as headers.
    response_headers BLOB    NOT NULL,
    response_body    BLOB    NOT NULL,
    -- From the head's arrival until the response was ready (the commit itself is not included).
    duration_us      INTEGER NOT NULL,
    -- Derived from the raw bytes above, never the reverse.
    kind             TEXT    NOT NULL CHECK (kind IN ('assignment', 'event', 'other')),
    event_type       TEXT,
    account_sid      TEXT,
    workspace_sid    TEXT,
    task_sid         TEXT,
    reservation_sid  TEXT,
    worker_sid       TEXT,
    signature        TEXT    NOT NULL DEFAULT 'unchecked'
                     CHECK (signature IN ('valid', 'invalid', 'missing', 'unchecked')),
    replay_of        INTEGER REFERENCES requests (id) ON DELETE SET NULL,
    -- Why the request was refused or not kept whole (body over the limit, read timeout, ...).
    error            TEXT
) STRICT;

-- Keyset pagination walks id downwards inside each filter, so every filter index ends in id.
CREATE INDEX requests_by_kind        ON requests (kind, id);
CREATE INDEX requests_by_event_type  ON requests (event_type, id) WHERE event_type IS NOT NULL;
CREATE INDEX requests_by_workspace   ON requests (workspace_sid, id) WHERE workspace_sid IS NOT NULL;
CREATE INDEX requests_by_task        ON requests (task_sid, id) WHERE task_sid IS NOT NULL;
CREATE INDEX requests_by_reservation ON requests (reservation_sid, id) WHERE reservation_sid IS NOT NULL;
CREATE INDEX requests_by_worker      ON requests (worker_sid, id) WHERE worker_sid IS NOT NULL;
CREATE INDEX requests_by_replay_of   ON requests (replay_of) WHERE replay_of IS NOT NULL;
CREATE INDEX requests_by_received_at ON requests (received_at);
