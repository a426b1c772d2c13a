-- `serve --connect`: what taskhook changed in a TaskRouter workspace, written before the
-- change is made, so a restore (at exit, by `taskhook restore`, or by the next `--connect`)
-- can put every value back even after a crash.
CREATE TABLE connect_changes (
    id INTEGER PRIMARY KEY,
    made_at_us INTEGER NOT NULL,
    -- The TaskRouter REST base the change was made through (the real API or a sim).
    base_url TEXT NOT NULL,
    -- The resource's path under base_url: a Workspace or a Workflow.
    resource_path TEXT NOT NULL,
    -- The form parameter / JSON field pair: EventCallbackUrl, EventsFilter,
    -- AssignmentCallbackUrl, FallbackAssignmentCallbackUrl.
    field TEXT NOT NULL,
    -- The value before taskhook changed it; NULL when it was unset.
    old_value TEXT,
    -- The value taskhook set: restored only while it still holds this.
    new_value TEXT NOT NULL,
    -- NULL until the change is settled (restored, or left alone because someone changed it).
    settled_at_us INTEGER,
    outcome TEXT
);
CREATE INDEX connect_changes_pending ON connect_changes (settled_at_us);
