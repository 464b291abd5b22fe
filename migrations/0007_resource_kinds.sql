-- Resource kinds (issue 14).
--
-- Every record says which kind of resources it holds: `bucket` (a bucket with its IAM user and
-- key) or `credentials` (an IAM user and key alone). Every row made before kinds existed holds a
-- bucket: it keeps its row, all its columns, and gets that kind. A record without a bucket has no
-- bucket name; bucket_region stays the region of the add-on's resources (delivered to its apps).
ALTER TABLE managed_resources ADD COLUMN kind text NOT NULL DEFAULT 'bucket';
ALTER TABLE managed_resources ADD CONSTRAINT managed_resources_kind_check CHECK (kind IN ('bucket', 'credentials'));
ALTER TABLE managed_resources ALTER COLUMN bucket_name DROP NOT NULL;
ALTER TABLE managed_resources ADD CONSTRAINT managed_resources_bucket_of_kind CHECK ((kind = 'bucket') = (bucket_name IS NOT NULL));
