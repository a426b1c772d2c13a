-- Retention deletes the audit trail older than the oldest kept request, a step at a time.
CREATE INDEX actions_by_at ON actions (at);
