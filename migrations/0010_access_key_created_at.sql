-- Issue 16 (credential rotation), its first step: when each add-on's recorded access key was made,
-- as AWS says (CreateAccessKey's, then ListAccessKeys' CreateDate). Keys recorded before this
-- migration get theirs at their next deep check. Rotation by age and the key-age metrics read it.
ALTER TABLE managed_resources ADD COLUMN access_key_created_at timestamptz;

-- The same for a link made with access keys: when AWS made the link's own key (ListAccessKeys of
-- the caller, read when linking; NULL when that was refused or for a role link), so its age can be
-- reported and warned about past KEY_MAX_AGE.
ALTER TABLE links ADD COLUMN access_key_created_at timestamptz;
