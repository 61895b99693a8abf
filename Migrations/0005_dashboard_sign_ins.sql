-- Sign-ins with GitHub on the dashboard: who signed in and which repositories they may read, as GitHub
-- reported it (the user's installations of this App). The browser's cookie names a row by id.
-- `repositories` holds lowercased full names and is trusted only while `refreshed_at` is recent (a few
-- minutes); then it is asked again with the user's token, kept only here and only sealed with AES-256-GCM
-- (base64url of nonce, ciphertext and tag) under a key derived from the session key.
CREATE TABLE dashboard_sign_ins (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    github_user_id bigint NOT NULL,
    github_login  text NOT NULL,
    repositories  text[] NOT NULL DEFAULT '{}',
    github_token_sealed text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    refreshed_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

CREATE INDEX dashboard_sign_ins_expires_at ON dashboard_sign_ins (expires_at);
