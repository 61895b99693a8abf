-- previewd's initial schema: installations, webhook deliveries, setup sessions with their runs,
-- steps, transitions and logs, and the job queue. PostgreSQL is previewd's only state.

-- GitHub App installations previewd has heard of.
CREATE TABLE installations (
    id              bigint PRIMARY KEY,               -- GitHub's installation id
    account_login   text NOT NULL,
    account_type    text,                             -- User or Organization
    suspended_at    timestamptz,
    deleted_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Repositories each installation may see (installation_repositories events keep this current).
CREATE TABLE installation_repositories (
    installation_id bigint NOT NULL REFERENCES installations (id) ON DELETE CASCADE,
    repository_id   bigint NOT NULL,
    full_name       text NOT NULL,
    private         boolean NOT NULL DEFAULT false,
    added_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (installation_id, repository_id)
);
CREATE INDEX installation_repositories_full_name ON installation_repositories (full_name);

-- Every webhook delivery GitHub sent, stored before previewd answers 2xx.
CREATE TABLE webhook_deliveries (
    delivery_id          text PRIMARY KEY,             -- X-GitHub-Delivery
    event                text NOT NULL,                -- X-GitHub-Event
    action               text,
    installation_id      bigint,
    repository_full_name text,
    sender_login         text,
    payload              bytea NOT NULL,               -- the raw body, byte for byte
    received_at          timestamptz NOT NULL DEFAULT now(),
    status               text NOT NULL DEFAULT 'received'
                         CHECK (status IN ('received', 'processing', 'processed', 'ignored', 'failed')),
    status_reason        text,                         -- why ignored, or the error that failed it
    processed_at         timestamptz,
    attempts             integer NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_received_at ON webhook_deliveries (received_at);
CREATE INDEX webhook_deliveries_open ON webhook_deliveries (status) WHERE status IN ('received', 'processing', 'failed');

-- One setup session per repository and branch (or per pull request when it comes from a fork).
CREATE TABLE setup_sessions (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    installation_id      bigint,
    repository_id        bigint NOT NULL,
    repository_full_name text NOT NULL,
    session_key          text NOT NULL,                -- 'branch:<name>' or 'pr:<number>' for forks
    branch               text NOT NULL,
    pull_request_number  integer,
    is_fork              boolean NOT NULL DEFAULT false,
    head_sha             text,
    mode                 text NOT NULL DEFAULT 'auto' CHECK (mode IN ('auto', 'approval')),
    state                text NOT NULL DEFAULT 'active'
                         CHECK (state IN ('active', 'queued', 'destroying', 'destroyed')),
    preview_url          text,
    plan                 jsonb,                        -- what detect decided
    provider             text,
    provider_state       jsonb,                        -- machine, app, port, work directory ...
    comment_id           bigint,                       -- the sticky PR comment
    expires_at           timestamptz,                  -- TTL of the live preview
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    destroyed_at         timestamptz,
    UNIQUE (repository_id, session_key)
);
CREATE INDEX setup_sessions_repository ON setup_sessions (repository_full_name, branch);
CREATE INDEX setup_sessions_state ON setup_sessions (state, updated_at);

-- A run of the four steps for one head SHA of a session.
CREATE TABLE session_runs (
    id             bigserial PRIMARY KEY,
    session_id     uuid NOT NULL REFERENCES setup_sessions (id) ON DELETE CASCADE,
    head_sha       text NOT NULL,
    state          text NOT NULL DEFAULT 'running'
                   CHECK (state IN ('running', 'succeeded', 'failed', 'superseded', 'cancelled')),
    superseded_by  text,
    deployment_id  bigint,                             -- the GitHub Deployment of this head SHA
    created_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz
);
CREATE INDEX session_runs_session ON session_runs (session_id, id DESC);

-- One of detect, allocate, configure, boot within a run.
CREATE TABLE session_steps (
    id               bigserial PRIMARY KEY,
    run_id           bigint NOT NULL REFERENCES session_runs (id) ON DELETE CASCADE,
    session_id       uuid NOT NULL REFERENCES setup_sessions (id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (name IN ('detect', 'allocate', 'configure', 'boot')),
    position         smallint NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'waiting_for_approval', 'queued', 'running', 'succeeded',
                                       'failed', 'timed_out', 'cancelled', 'skipped')),
    attempt          integer NOT NULL DEFAULT 0,
    timeout_seconds  integer NOT NULL,
    approved_by      text,
    approved_at      timestamptz,
    started_at       timestamptz,
    finished_at      timestamptz,
    summary          text,
    output           jsonb,
    error            text,
    check_run_id     bigint,
    UNIQUE (run_id, name)
);
CREATE INDEX session_steps_session ON session_steps (session_id);

-- Every status change of a step, with time and reason.
CREATE TABLE step_transitions (
    id           bigserial PRIMARY KEY,
    step_id      bigint NOT NULL REFERENCES session_steps (id) ON DELETE CASCADE,
    from_status  text,
    to_status    text NOT NULL,
    reason       text NOT NULL,
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX step_transitions_step ON step_transitions (step_id, id);

-- Log lines of a step, in order.
CREATE TABLE step_logs (
    id         bigserial PRIMARY KEY,
    step_id    bigint NOT NULL REFERENCES session_steps (id) ON DELETE CASCADE,
    attempt    integer NOT NULL DEFAULT 1,
    stream     text NOT NULL DEFAULT 'system' CHECK (stream IN ('stdout', 'stderr', 'system')),
    line       text NOT NULL,
    logged_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX step_logs_step ON step_logs (step_id, id);

-- The job queue. Workers claim with FOR UPDATE SKIP LOCKED and hold a lease they renew by heartbeat;
-- a job whose lease expired is claimable again, so a crash loses nothing.
CREATE TABLE jobs (
    id                bigserial PRIMARY KEY,
    kind              text NOT NULL,                  -- process_delivery, run_step, ...
    payload           jsonb NOT NULL DEFAULT '{}',
    dedupe_key        text,                           -- e.g. the delivery id: enqueued at most once
    serial_key        text,                           -- at most one running job per key (a session)
    state             text NOT NULL DEFAULT 'queued'
                      CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    run_at            timestamptz NOT NULL DEFAULT now(),
    attempts          integer NOT NULL DEFAULT 0,
    max_attempts      integer NOT NULL DEFAULT 10,
    lease_owner       text,
    lease_expires_at  timestamptz,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    finished_at       timestamptz
);
CREATE UNIQUE INDEX jobs_dedupe ON jobs (kind, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX jobs_ready ON jobs (run_at, id) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state = 'running';
-- At most one running job per serial key, enforced by the database itself.
CREATE UNIQUE INDEX jobs_serial_running ON jobs (serial_key) WHERE state = 'running' AND serial_key IS NOT NULL;
CREATE INDEX jobs_serial_open ON jobs (serial_key, id) WHERE state IN ('queued', 'running') AND serial_key IS NOT NULL;
