-- Garbage collection of orphans (resources no add-on wants any more). An orphan is marked with the
-- reason and the moment after which it may be deleted (its grace period), so that a restart does
-- not restart the clock, and a resource wanted again inside the grace period is simply unmarked.
ALTER TABLE managed_resources
  ADD COLUMN orphaned_at timestamptz,
  ADD COLUMN orphan_reason text CHECK (orphan_reason IN ('deprovisioned', 'orphaned')),
  ADD COLUMN delete_after timestamptz,
  -- Set by the first teardown step: a teardown under way is resumed, never counted again by the
  -- mass-deletion breaker.
  ADD COLUMN teardown_started_at timestamptz,
  ADD CONSTRAINT managed_resources_orphan_fields CHECK (
    (orphaned_at IS NULL AND orphan_reason IS NULL AND delete_after IS NULL)
    OR (orphaned_at IS NOT NULL AND orphan_reason IS NOT NULL AND delete_after IS NOT NULL)
  );

-- An orphan whose bucket is kept by its retain tag: user, keys and config vars are gone.
ALTER TABLE managed_resources DROP CONSTRAINT managed_resources_state_check;
ALTER TABLE managed_resources ADD CONSTRAINT managed_resources_state_check
  CHECK (state IN ('pending', 'ready', 'error', 'retained'));

-- The mass-deletion breaker of an account: tripped when one pass would delete too much; the
-- deletions it held back (`planned`) proceed once an operator approves them.
CREATE TABLE gc_breakers (
  account_id  text PRIMARY KEY,
  tripped_at  timestamptz NOT NULL,
  planned     text[] NOT NULL,
  approved_at timestamptz
);
