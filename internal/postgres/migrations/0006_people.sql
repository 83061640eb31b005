-- The people directory: what the bot knows of each Slack or PagerDuty user
-- ID (name, e-mail, the Slack user a PagerDuty user is). The ID is bytea
-- like the other keys; the document is json (jsonb refuses \u0000).
CREATE TABLE people (
	id bytea PRIMARY KEY,
	doc json NOT NULL
);
