-- The drift-loop breaker counts recent successful repairs per attribute from the journal.
CREATE INDEX journal_recent_ok_idx ON journal (at) WHERE phase = 'ok';
