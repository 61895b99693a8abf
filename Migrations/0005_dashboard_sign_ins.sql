-- Sign-ins with GitHub on the dashboard: who signed in and which repositories they may read, as GitHub
-- reported it (the user's installations of this App). The browser's cookie names a row by id; the user's
-- GitHub token is not kept. `repositories` holds lowercased full names and is trusted only while
-- `refreshed_at` is recent (see PREVIEWD_SESSION_TTL and the scope cache in docs/dashboard.md).
CREATE TABLE dashboard_sign_ins (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    github_user_id bigint NOT NULL,
    github_login  text NOT NULL,
    repositories  text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    refreshed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

CREATE INDEX dashboard_sign_ins_expires_at ON dashboard_sign_ins (expires_at);
