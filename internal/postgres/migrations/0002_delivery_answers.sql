-- The answer given to a signed Slack request, so that a replay of the
-- request gets the same answer instead of being applied again.
ALTER TABLE deliveries ADD COLUMN answer bytea;
