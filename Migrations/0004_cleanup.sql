-- Cost and cleanup: preview lifetimes (TTL and /preview extend), a cap on live previews per repository,
-- and why a preview was torn down.
--
-- A preview expires at expires_at = greatest(last_active_at + TTL, extended_until), where last_active_at is
-- the last push, state-changing /preview command or button, or successful boot, and TTL is the repository's
-- `ttl` (.github/preview.yml) or previewd's default. Both are kept up to date by the session engine.

ALTER TABLE setup_sessions
    ADD COLUMN last_active_at      timestamptz,             -- last push, command or successful boot
    ADD COLUMN extended_until      timestamptz,             -- what /preview extend asked for
    ADD COLUMN teardown_reason     text,                    -- why the preview was (last) torn down
    ADD COLUMN holds_slot          boolean NOT NULL DEFAULT false,  -- counts against the repository's cap
    ADD COLUMN slot_waiting_since  timestamptz;             -- waiting for a free slot since (arrival order)

-- Sessions that already have a machine hold a slot; live ones were last active when last updated.
UPDATE setup_sessions SET holds_slot = true WHERE provider_state IS NOT NULL AND state <> 'destroyed';
UPDATE setup_sessions SET last_active_at = updated_at WHERE state = 'active';

CREATE INDEX setup_sessions_expiry ON setup_sessions (expires_at) WHERE state = 'active';
CREATE INDEX setup_sessions_slots ON setup_sessions (repository_id) WHERE holds_slot OR slot_waiting_since IS NOT NULL;
-- Incomplete check runs, for renewing them before GitHub marks them stale.
CREATE INDEX session_steps_open_check_runs ON session_steps (reported_at)
    WHERE check_run_id IS NOT NULL AND status IN ('queued', 'running');
