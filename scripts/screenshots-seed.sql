-- Sessions for scripts/screenshots: several repositories and states, a running boot with a live log,
-- a superseded run, a failure, and a branch name that must render as text.
BEGIN;

CREATE FUNCTION pg_temp.add_session(
    repo text, repo_id bigint, branch_name text, pr integer, session_state text, url text, sha text, age interval,
    statuses text[], run_state text, plan jsonb DEFAULT NULL
) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    sid uuid;
    rid bigint;
    names text[] := ARRAY['detect', 'allocate', 'configure', 'boot'];
    durations integer[] := ARRAY[4, 38, 6, 71];
    started timestamptz := now() - age;
    i integer;
BEGIN
    INSERT INTO setup_sessions (installation_id, repository_id, repository_full_name, session_key, branch, pull_request_number,
                                state, preview_url, head_sha, plan, provider, created_at, updated_at)
    VALUES (1, repo_id, repo, 'branch:' || branch_name, branch_name, pr, session_state, url, sha, plan,
            'local', started - interval '10 minutes', started + interval '2 minutes')
    RETURNING id INTO sid;
    INSERT INTO session_runs (session_id, head_sha, state, created_at, finished_at)
    VALUES (sid, sha, run_state, started, CASE WHEN run_state = 'running' THEN NULL ELSE started + interval '2 minutes' END)
    RETURNING id INTO rid;
    FOR i IN 1..4 LOOP
        INSERT INTO session_steps (run_id, session_id, name, position, status, attempt, timeout_seconds, started_at, finished_at,
                                   status_reason, error)
        VALUES (rid, sid, names[i], i - 1, statuses[i],
                CASE WHEN statuses[i] IN ('pending', 'waiting_for_approval') THEN 0 ELSE 1 END, 300,
                CASE WHEN statuses[i] IN ('succeeded', 'failed', 'running') THEN started + make_interval(secs => i * 20) END,
                CASE WHEN statuses[i] IN ('succeeded', 'failed') THEN started + make_interval(secs => i * 20 + durations[i]) END,
                CASE statuses[i]
                    WHEN 'succeeded' THEN names[i] || ' finished'
                    WHEN 'running' THEN 'worker picked it up'
                    WHEN 'waiting_for_approval' THEN 'waiting for /preview next'
                    WHEN 'failed' THEN 'npm run build exited with status 1'
                END,
                CASE WHEN statuses[i] = 'failed' THEN 'npm run build exited with status 1' END);
    END LOOP;
    RETURN sid;
END;
$$;

DO $$
DECLARE
    sid uuid;
    old_run bigint;
BEGIN
    -- The session page's subject: a superseded run, then a run whose boot is running.
    sid := pg_temp.add_session('octo/shop', 101, 'feature/checkout', 42, 'active', NULL, '8f14e45fceea167a5a36dedd4bea2543a1b2c3d4',
                               interval '3 minutes', ARRAY['succeeded', 'succeeded', 'succeeded', 'running'], 'running',
                               '{"stack": "node", "install": "npm ci", "build": "npm run build", "start": "npm start", "port": 3000, "health_path": "/healthz"}');
    UPDATE session_runs SET created_at = now() - interval '50 minutes', finished_at = now() - interval '45 minutes', state = 'superseded',
                            superseded_by = '8f14e45fceea167a5a36dedd4bea2543a1b2c3d4', head_sha = 'c9f0f895fb98ab9159f51fd0297e236d9a1b2c3d'
        WHERE session_id = sid RETURNING id INTO old_run;
    INSERT INTO session_runs (session_id, head_sha, state, created_at) VALUES (sid, '8f14e45fceea167a5a36dedd4bea2543a1b2c3d4', 'running', now() - interval '3 minutes');
    UPDATE session_steps SET run_id = (SELECT max(id) FROM session_runs WHERE session_id = sid) WHERE session_id = sid AND run_id = old_run;
    INSERT INTO session_steps (run_id, session_id, name, position, status, attempt, timeout_seconds, started_at, finished_at)
    SELECT old_run, sid, name, position, CASE WHEN name IN ('detect', 'allocate') THEN 'succeeded' ELSE 'cancelled' END, 1, 300,
           now() - interval '50 minutes', now() - interval '45 minutes'
    FROM session_steps WHERE session_id = sid AND run_id <> old_run;
    INSERT INTO step_logs (step_id, stream, line, logged_at)
    SELECT s.id, l.stream, l.line, now() - interval '3 minutes' + l.n * interval '1 second'
    FROM session_steps s JOIN session_runs r ON r.id = s.run_id AND r.state = 'running'
    CROSS JOIN LATERAL (VALUES
        ('detect', 1, 'system', 'cloning octo/shop at 8f14e45'),
        ('detect', 2, 'stdout', 'found package.json (node 20), no .github/preview.yml'),
        ('detect', 3, 'stdout', 'plan: npm ci → npm run build → npm start on port 3000'),
        ('allocate', 4, 'system', 'reserving port 41207 and a work directory'),
        ('configure', 5, 'stdout', 'writing .env with 3 variables'),
        ('boot', 6, 'system', '$ npm ci'),
        ('boot', 7, 'stdout', 'added 812 packages, and audited 813 packages in 21s'),
        ('boot', 8, 'stderr', 'npm WARN deprecated inflight@1.0.6: This module is not supported'),
        ('boot', 9, 'system', '$ npm run build'),
        ('boot', 10, 'stdout', '> shop@1.4.0 build'),
        ('boot', 11, 'stdout', '> vite build'),
        ('boot', 12, 'stdout', 'vite v5.2.8 building for production...'),
        ('boot', 13, 'stdout', '✓ 1284 modules transformed.'),
        ('boot', 14, 'stdout', 'dist/index.html   0.46 kB │ gzip: 0.30 kB'),
        ('boot', 15, 'system', '$ npm start (waiting for http://127.0.0.1:41207/healthz)')
    ) AS l(step, n, stream, line)
    WHERE s.session_id = sid AND s.name = l.step;

    PERFORM pg_temp.add_session('octo/shop', 101, 'main', NULL, 'active', 'http://main.shop.previews.example.com', 'a87ff679a2f3e71d9181a67b7542122c0e1f2a3b',
                                interval '2 hours', ARRAY['succeeded', 'succeeded', 'succeeded', 'succeeded'], 'succeeded');
    PERFORM pg_temp.add_session('octo/shop', 101, 'fix/cart-rounding', 57, 'active', NULL, 'e4da3b7fbbce2345d7772b0674a318d5aa11bb22',
                                interval '25 minutes', ARRAY['succeeded', 'succeeded', 'failed', 'pending'], 'failed');
    PERFORM pg_temp.add_session('octo/docs', 202, 'release-notes', 12, 'active', 'http://release-notes.docs.previews.example.com',
                                '1679091c5a880faf6fb5e6087eb1b2dc33445566', interval '5 hours',
                                ARRAY['succeeded', 'succeeded', 'succeeded', 'succeeded'], 'succeeded');
    PERFORM pg_temp.add_session('octo/api', 303, 'dependabot/npm/express-4.19.2', 88, 'active', NULL, '8e296a067a37563370ded05f5a3bf3ec77889900',
                                interval '40 minutes', ARRAY['succeeded', 'waiting_for_approval', 'pending', 'pending'], 'running');
    PERFORM pg_temp.add_session('octo/api', 303, '<script>alert(1)</script>', NULL, 'active', NULL, 'c81e728d9d4c2f636f067f89cc14862caabbccdd',
                                interval '1 day', ARRAY['succeeded', 'failed', 'pending', 'pending'], 'failed');
    PERFORM pg_temp.add_session('octo/docs', 202, 'old-landing-page', 9, 'destroyed', NULL, 'eccbc87e4b5ce2fe28308fd9f2a7baf3ddeeff00',
                                interval '3 days', ARRAY['succeeded', 'succeeded', 'succeeded', 'succeeded'], 'succeeded');
END;
$$;

INSERT INTO webhook_deliveries (delivery_id, event, payload, status, received_at)
SELECT 'seed-' || n, 'push', '\x7b7d', CASE WHEN n % 17 = 0 THEN 'failed' ELSE 'processed' END, now() - n * interval '10 minutes'
FROM generate_series(1, 120) AS n;

COMMIT;
