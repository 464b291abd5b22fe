-- Issue 17: near-real-time drift.
--
-- Risk-ordered deep checks: a bucket's public-exposure settings (public access block, policy,
-- object ownership) are read on a shorter window than the rest. A full deep check reads them too,
-- so it sets both times; an exposure check sets only its own.
ALTER TABLE managed_resources ADD COLUMN exposure_checked_at timestamptz;
UPDATE managed_resources SET exposure_checked_at = deep_checked_at;

-- Change events: per linked account and region, the SQS queue that EventBridge rules fill with
-- CloudTrail's record of API calls on this instance's buckets and users (`events setup`). Only
-- names and ARNs: the controller reaches the queue with the account's link.
CREATE TABLE event_sources (
  account_id  text NOT NULL,
  region      text NOT NULL,
  queue_url   text NOT NULL,
  queue_arn   text NOT NULL,
  -- The rules (CloudTrail changes, and the controller's own probe) that target the queue.
  rule_arns   text[] NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (account_id, region)
);

-- An event names a bucket or a user: its add-on is found by either.
CREATE INDEX managed_resources_user_name_idx ON managed_resources (user_name);
