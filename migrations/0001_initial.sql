-- The controller's state: team↔account links, the resources made per add-on, credential
-- deliveries and the append-only journal. Columns ending in _enc hold Fernet tokens
-- (FERNET_KEYS), never plaintext.

CREATE TABLE links (
  team_id               text PRIMARY KEY,
  team_name             text NOT NULL,
  account_id            text NOT NULL,
  region                text,
  auth_kind             text NOT NULL CHECK (auth_kind IN ('keys', 'role')),
  access_key_id         text,
  secret_access_key_enc text,
  role_arn              text,
  external_id_enc       text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT links_auth_fields CHECK (
    (auth_kind = 'keys' AND access_key_id IS NOT NULL AND secret_access_key_enc IS NOT NULL
       AND role_arn IS NULL AND external_id_enc IS NULL)
    OR
    (auth_kind = 'role' AND role_arn IS NOT NULL
       AND access_key_id IS NULL AND secret_access_key_enc IS NULL)
  )
);
-- Not unique: a renamed team may briefly share its old name with another team.
CREATE INDEX links_team_name_idx ON links (lower(team_name));
CREATE INDEX links_account_id_idx ON links (account_id);

CREATE TABLE managed_resources (
  addon_id              text PRIMARY KEY,
  addon_name            text NOT NULL,
  account_id            text NOT NULL,
  team_id               text NOT NULL,
  app_id                text NOT NULL,
  plan                  text NOT NULL,
  bucket_name           text NOT NULL,
  bucket_region         text NOT NULL,
  user_name             text NOT NULL,
  access_key_id         text,
  secret_access_key_enc text,
  -- When CreateBucket was last sent (written before the call): an untagged bucket of this name
  -- created after it is ours, interrupted before tagging.
  bucket_create_started_at timestamptz,
  state                 text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'ready', 'error')),
  last_error            text,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT managed_resources_secret_needs_key CHECK (secret_access_key_enc IS NULL OR access_key_id IS NOT NULL)
);
-- Two add-ons can never claim the same bucket or the same IAM user.
CREATE UNIQUE INDEX managed_resources_bucket_name_key ON managed_resources (bucket_name);
CREATE UNIQUE INDEX managed_resources_account_user_key ON managed_resources (account_id, user_name);
CREATE INDEX managed_resources_account_id_idx ON managed_resources (account_id, addon_id);
CREATE INDEX managed_resources_team_id_idx ON managed_resources (team_id);

CREATE TABLE deliveries (
  addon_id      text NOT NULL,
  attachment_id text NOT NULL,
  app_id        text NOT NULL,
  var_names     text[] NOT NULL DEFAULT '{}',
  fingerprint   text NOT NULL,
  delivered_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (addon_id, attachment_id)
);
CREATE INDEX deliveries_app_id_idx ON deliveries (app_id);

CREATE TABLE journal (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  instance_id text NOT NULL,
  account_id  text,
  addon_id    text,
  action      text NOT NULL,
  resource    text NOT NULL,
  phase       text NOT NULL CHECK (phase IN ('intent', 'ok', 'failed')),
  detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX journal_addon_id_idx ON journal (addon_id, id);
CREATE INDEX journal_account_id_idx ON journal (account_id, id);

-- The journal is append-only: rows can be inserted, never changed or removed.
CREATE FUNCTION journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the journal is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER journal_no_update_delete BEFORE UPDATE OR DELETE ON journal
  FOR EACH ROW EXECUTE FUNCTION journal_append_only();
CREATE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal
  FOR EACH STATEMENT EXECUTE FUNCTION journal_append_only();
