-- Issue 16: credential rotation. One row per add-on whose access key is being replaced, from the
-- request (an operator's `rotate`, or the age trigger) to the old key's deletion. The new key's
-- secret is the add-on's record's (managed_resources) from the moment it is made: only key ids
-- are kept here. Steps: requested (queued, waiting for its turn) → creating (admitted; the new
-- key is being made and delivered) → delivered (every attachment holds it; the old key stays
-- active for ROTATION_OVERLAP) → deactivated (for ROTATION_DEACTIVATED_GRACE) → row deleted once
-- the old key is. `reactivated`: the old key was still used after its deactivation and was
-- switched back on; the rotation waits for an operator.
CREATE TABLE key_rotations (
  addon_id          text PRIMARY KEY REFERENCES managed_resources (addon_id) ON DELETE CASCADE,
  account_id        text NOT NULL,
  old_access_key_id text NOT NULL,
  new_access_key_id text,
  trigger           text NOT NULL CHECK (trigger IN ('age', 'on-demand', 'emergency')),
  step              text NOT NULL CHECK (step IN ('requested', 'creating', 'delivered', 'deactivated', 'reactivated')),
  requested_at      timestamptz NOT NULL,
  requested_by      text NOT NULL,
  step_at           timestamptz NOT NULL,
  delivered_at      timestamptz,
  deactivated_at    timestamptz,
  -- Deactivations are counted by the rotation breaker unless approved: an operator's request is
  -- approved when made; an age rotation held by the breaker by `rotate approve --account`.
  approved_at       timestamptz
);
CREATE INDEX key_rotations_account ON key_rotations (account_id);
