-- When the settings and access keys of an add-on's bucket and user were last read in full. Deep
-- checks are spread over DEEP_CHECK_WINDOW instead of all on every pass; a mutation clears this
-- so the next pass verifies what it just changed.
ALTER TABLE managed_resources ADD COLUMN deep_checked_at timestamptz;
