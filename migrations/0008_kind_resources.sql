-- Generic records per (add-on, kind) (issue 14).
--
-- managed_resources keeps what every kind has: the add-on, its IAM user and key, its region,
-- which kind it was made as, and its life (deep checks, orphan mark, teardown, state). What a
-- kind makes beyond the user (a bucket today; a queue or a database tomorrow) is one row here per
-- (add-on, kind), named for no kind in particular, so a new kind needs no migration of its own.
CREATE TABLE kind_resources (
  addon_id          text NOT NULL REFERENCES managed_resources (addon_id) ON DELETE CASCADE,
  kind              text NOT NULL,
  -- The resource's name in its account (a bucket's name): deterministic, so written before the
  -- call that creates it.
  name              text NOT NULL,
  -- When the create call was last sent (written before the call): an untagged resource of this
  -- name created after it is ours, interrupted before tagging.
  create_started_at timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (addon_id, kind)
);
-- Two add-ons can never claim the same resource (bucket names are global to S3).
CREATE UNIQUE INDEX kind_resources_name_key ON kind_resources (kind, name);

-- Every bucket recorded so far moves here with its name and create time; no row is lost (the
-- columns' values are copied before the columns go).
INSERT INTO kind_resources (addon_id, kind, name, create_started_at, created_at, updated_at)
  SELECT addon_id, kind, bucket_name, bucket_create_started_at, created_at, updated_at
  FROM managed_resources WHERE bucket_name IS NOT NULL;

ALTER TABLE managed_resources DROP CONSTRAINT managed_resources_bucket_of_kind;
ALTER TABLE managed_resources DROP COLUMN bucket_name;
ALTER TABLE managed_resources DROP COLUMN bucket_create_started_at;
-- The region of the add-on's resources, delivered to its apps whatever its kind.
ALTER TABLE managed_resources RENAME COLUMN bucket_region TO region;
-- Kinds are the code's modules: the store checks the name's shape, not a list that every new
-- kind would have to extend.
ALTER TABLE managed_resources DROP CONSTRAINT managed_resources_kind_check;
ALTER TABLE managed_resources ADD CONSTRAINT managed_resources_kind_check CHECK (kind ~ '^[a-z][a-z0-9-]{0,39}$');
