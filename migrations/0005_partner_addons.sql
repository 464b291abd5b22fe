-- The Heroku Add-on Partner API (v3): one row per provisioning request Heroku sent to
-- `POST /heroku/resources`, keyed by the request's `uuid` (Heroku's add-on id, and the id we answer
-- with), so a redelivered request never creates a second record. The OAuth grant and the tokens it
-- is exchanged for are Fernet tokens (FERNET_KEYS), never plaintext: columns ending in _enc.
CREATE TABLE partner_addons (
  uuid                    text PRIMARY KEY,
  name                    text,
  heroku_id               text,
  plan                    text NOT NULL,
  region                  text,
  callback_url            text,
  options                 jsonb NOT NULL DEFAULT '{}'::jsonb,
  state                   text NOT NULL DEFAULT 'provisioning'
    CHECK (state IN ('provisioning', 'provisioned', 'failed', 'deprovisioned')),
  -- The grant code until it is exchanged (then cleared), and when Heroku said it expires.
  grant_code_enc          text,
  grant_expires_at        timestamptz,
  access_token_enc        text,
  refresh_token_enc       text,
  access_token_expires_at timestamptz,
  token_exchanged_at      timestamptz,
  -- The last failed exchange or refresh (a plain sentence, never a token) and how many failed in a row.
  token_error             text,
  token_failures          integer NOT NULL DEFAULT 0,
  -- `POST /addons/{uuid}/actions/provision` (resources ready) or `…/actions/deprovision` (terminal
  -- failure) was answered with success at this moment: it is never sent twice.
  provisioned_sent_at     timestamptz,
  failed_sent_at          timestamptz,
  failure_reason          text,
  plan_changed_at         timestamptz,
  -- `DELETE /heroku/resources/{uuid}`: the resources may be torn down after `delete_after`.
  deprovisioned_at        timestamptz,
  delete_after            timestamptz,
  created_at              timestamptz NOT NULL DEFAULT now(),
  updated_at              timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT partner_addons_tokens_together CHECK (
    (access_token_enc IS NULL) = (access_token_expires_at IS NULL)
  ),
  CONSTRAINT partner_addons_deprovision_fields CHECK (
    (deprovisioned_at IS NULL) = (delete_after IS NULL)
  )
);
CREATE INDEX partner_addons_state_idx ON partner_addons (state);
