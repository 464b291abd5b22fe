-- Operator API tokens for the private listener (admin API, drift, metrics when asked). A token is
-- shown once when made; only the sha256 of its secret part is kept, so the table leaks no usable
-- credential. Revoked tokens stay as history (who made and revoked them, when last used).
CREATE TABLE api_tokens (
  id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{12}$'),
  -- A name never looks like an id, so `token revoke X` means one token.
  name          text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,62}$' AND name !~ '^[0-9a-f]{12}$'),
  scope         text NOT NULL CHECK (scope IN ('read', 'write')),
  secret_sha256 text NOT NULL CHECK (secret_sha256 ~ '^[0-9a-f]{64}$'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  created_by    text NOT NULL,
  expires_at    timestamptz,
  last_used_at  timestamptz,
  revoked_at    timestamptz,
  revoked_by    text
);

-- One live token per name, so `token revoke NAME` means one token.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Console sessions. The cookie holds a random id; only its sha256 is kept, so the table cannot be
-- replayed. A team admin's session keeps the teams Heroku said they administer (asked again every
-- few minutes) and their Heroku token (Fernet, to ask Heroku again); an operator's session is bound
-- to the API token it was opened with, and ends when that token is revoked or expires.
CREATE TABLE console_sessions (
  id_sha256        text PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
  kind             text NOT NULL CHECK (kind IN ('team-admin', 'operator')),
  subject          text NOT NULL,
  heroku_user_id   text,
  admin_teams      jsonb NOT NULL DEFAULT '[]'::jsonb,
  heroku_token_enc text,
  token_id         text REFERENCES api_tokens (id) ON DELETE CASCADE,
  created_at       timestamptz NOT NULL DEFAULT now(),
  -- When Heroku was last asked which teams a team admin administers (at sign-in, then again).
  checked_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL
);

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
