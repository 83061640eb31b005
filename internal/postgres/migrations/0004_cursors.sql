-- Pollers' positions (the PagerDuty log-entry poller's), written in the
-- transaction that applies what they cover.
CREATE TABLE cursors (
	name text PRIMARY KEY,
	value text NOT NULL
);
