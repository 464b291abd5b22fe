-- Issue 16 (credential rotation), its first step: when each add-on's recorded access key was made,
-- as AWS says (CreateAccessKey's, then ListAccessKeys' CreateDate). Keys recorded before this
-- migration get theirs at their next deep check. Rotation by age and the key-age metrics read it.
ALTER TABLE managed_resources ADD COLUMN access_key_created_at timestamptz;
