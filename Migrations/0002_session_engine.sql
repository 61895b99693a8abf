-- The session engine: approvals, what was last reported to GitHub, the permission cache and the
-- record of applied commands.

-- Where the code comes from, and which approvals hold for the whole session (allocate, configure).
ALTER TABLE setup_sessions
    ADD COLUMN clone_url         text,
    ADD COLUMN approved_steps    text[] NOT NULL DEFAULT '{}',
    ADD COLUMN comment_body      text;                 -- the sticky comment as last posted

-- `/preview run` approves every remaining step of one head SHA; the deployment's last reported state.
ALTER TABLE session_runs
    ADD COLUMN approve_all        boolean NOT NULL DEFAULT false,
    ADD COLUMN approved_by        text,
    ADD COLUMN deployment_state   text;

-- Why the step is where it is (shown in its check run), and what GitHub has seen of it.
ALTER TABLE session_steps
    ADD COLUMN status_reason     text,
    ADD COLUMN report_version    integer NOT NULL DEFAULT 0,  -- bumped on every change worth reporting
    ADD COLUMN reported_version  integer NOT NULL DEFAULT 0,  -- the version GitHub last got
    ADD COLUMN reported_log_id   bigint NOT NULL DEFAULT 0,   -- the newest log line GitHub has
    ADD COLUMN reported_at       timestamptz,
    ADD COLUMN queued_at         timestamptz;
CREATE INDEX session_steps_check_run ON session_steps (check_run_id) WHERE check_run_id IS NOT NULL;
CREATE INDEX session_steps_unreported ON session_steps (session_id) WHERE report_version > reported_version;

-- Collaborator permissions, cached briefly so a burst of commands costs one API call.
CREATE TABLE collaborator_permissions (
    repository_id  bigint NOT NULL,
    login          text NOT NULL,
    permission     text NOT NULL,
    fetched_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, login)
);

-- Commands applied to a session, so a command job that runs again never applies one twice; also the
-- once-per-pull-request "who may run commands" reply (dedupe key notice:<repository>:<number>).
CREATE TABLE session_commands (
    dedupe_key   text PRIMARY KEY,                      -- comment id and position, or the delivery id
    session_id   uuid REFERENCES setup_sessions (id) ON DELETE CASCADE,
    command      text NOT NULL,
    requester    text NOT NULL,
    outcome      text NOT NULL,                         -- applied, or why not
    applied_at   timestamptz NOT NULL DEFAULT now()
);
