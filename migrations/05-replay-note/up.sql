-- A replay whose original was deleted (retention, Clear all) before the replay was stored is
-- kept without the link (replay_of NULL, its foreign key would fail); this says which request
-- it replayed and that it is gone.
ALTER TABLE requests ADD COLUMN replay_note TEXT;
