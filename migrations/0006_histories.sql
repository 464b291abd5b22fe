-- Safety invariant 10 (histories).
--
-- What each delivered config var held, as the sha256 of its value by var name (never a value): a
-- var is removed only while it still holds what this add-on delivered there, so a name another
-- add-on's attachment has taken over since is never touched. NULL for deliveries made earlier.
ALTER TABLE deliveries ADD COLUMN value_hashes jsonb;

-- Settings this deployment keeps for its whole life, whatever its configuration says. Today one:
-- `instance_id`, the ownership tag on every bucket and user it makes. Without INSTANCE_ID it is
-- chosen once per store, so two deployments left at the default never take each other's
-- resources for their own.
CREATE TABLE controller_settings (
  key        text PRIMARY KEY,
  value      text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- A store that already manages resources keeps the instance id it made them with: the one its
-- journal last wrote, else the former default.
INSERT INTO controller_settings (key, value)
  SELECT 'instance_id', COALESCE((SELECT instance_id FROM journal ORDER BY id DESC LIMIT 1), 'default')
  WHERE EXISTS (SELECT 1 FROM managed_resources);
