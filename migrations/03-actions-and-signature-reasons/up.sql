-- Audit trail of every TaskRouter REST call made on the user's behalf (Accept, Reject,
-- Complete, Cancel, Refresh). Credentials are never stored: `params` is the form body sent,
-- `url` has no userinfo, and the Authorization header is not recorded anywhere.
CREATE TABLE actions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    -- µs since the Unix epoch when the call was made.
    at               INTEGER NOT NULL,
    -- accept / reject / complete / cancel / refresh.
    action           TEXT    NOT NULL,
    method           TEXT    NOT NULL,
    url              TEXT    NOT NULL,
    -- The form-encoded body sent (e.g. ReservationStatus=accepted).
    params           TEXT    NOT NULL,
    workspace_sid    TEXT,
    task_sid         TEXT,
    reservation_sid  TEXT,
    -- HTTP status TaskRouter answered; NULL when no answer came (timeout, connection error).
    response_status  INTEGER,
    response_body    TEXT,
    -- Transport error or explanation (e.g. "outcome unknown; fetched state: accepted").
    error            TEXT,
    duration_us      INTEGER NOT NULL
) STRICT;

CREATE INDEX actions_by_reservation ON actions (reservation_sid, id) WHERE reservation_sid IS NOT NULL;
CREATE INDEX actions_by_task        ON actions (task_sid, id) WHERE task_sid IS NOT NULL;

-- Why a signature was judged invalid (e.g. the URL it was checked against).
ALTER TABLE requests ADD COLUMN signature_reason TEXT;
