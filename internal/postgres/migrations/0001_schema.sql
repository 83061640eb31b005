-- incidentbot's PostgreSQL schema, version 1. Keys that come from outside
-- (delivery keys, PagerDuty and Slack IDs) are bytea: PostgreSQL's text
-- refuses NUL bytes and invalid UTF-8, and a webhook may carry either.
-- Documents are json (not jsonb: jsonb refuses \u0000 in strings).

-- Sequential counters updated in the transaction that uses them, so a
-- rolled-back transaction leaves no gap (incident numbers).
CREATE TABLE counters (
	name  text PRIMARY KEY,
	value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('incident', 0);

CREATE TABLE incidents (
	number       integer PRIMARY KEY,
	-- One incident per PagerDuty incident and per channel: the unique
	-- indexes are the arbiters across replicas.
	pagerduty_id bytea UNIQUE,
	channel_id   bytea UNIQUE,
	is_open      boolean NOT NULL,
	in_storm     boolean NOT NULL,
	resolved_at  timestamptz,
	-- The last timeline seq, read with the row (locked) so appends of
	-- transactions on one incident take consecutive seqs.
	last_seq     bigint NOT NULL DEFAULT 0,
	-- Bumped on every write: a transaction that read the row without a
	-- lock (a list) and writes it back fails if it changed meanwhile.
	version      bigint NOT NULL DEFAULT 1,
	doc          json NOT NULL
);
CREATE INDEX incidents_open ON incidents (number) WHERE is_open;
CREATE INDEX incidents_storm ON incidents (number) WHERE in_storm;
CREATE INDEX incidents_resolved ON incidents (resolved_at, number) WHERE resolved_at IS NOT NULL;

CREATE TABLE incident_services (
	service_key bytea NOT NULL,
	number      integer NOT NULL REFERENCES incidents (number),
	PRIMARY KEY (service_key, number)
);

CREATE TABLE timeline (
	number integer NOT NULL REFERENCES incidents (number),
	seq    bigint NOT NULL,
	doc    json NOT NULL,
	PRIMARY KEY (number, seq)
);

-- Outbox jobs. IDs come from a sequence and may commit out of order; xid
-- is the writing transaction, so a reader can find jobs that committed
-- after it last looked although their IDs are lower (see Tx.Jobs).
CREATE SEQUENCE job_ids;
CREATE TABLE jobs (
	id   bigint PRIMARY KEY,
	xid  xid8 NOT NULL DEFAULT pg_current_xact_id(),
	doc  json NOT NULL
);
CREATE INDEX jobs_xid ON jobs (xid);

CREATE TABLE dead_letters (
	id  bigint PRIMARY KEY,
	doc json NOT NULL
);

-- Dedupe and marker keys; the primary key is the arbiter between
-- transactions that both saw a key absent.
CREATE TABLE deliveries (
	key bytea PRIMARY KEY,
	at  timestamptz NOT NULL
);
CREATE INDEX deliveries_at ON deliveries (at);

CREATE TABLE pending_events (
	pagerduty_id bytea NOT NULL,
	seq          bigserial,
	doc          json NOT NULL,
	PRIMARY KEY (pagerduty_id, seq)
);

-- The leader lease: one row. epoch grows with every change of holder and
-- fences the writes of a former leader.
CREATE TABLE leader (
	id         integer PRIMARY KEY CHECK (id = 1),
	holder     text NOT NULL,
	epoch      bigint NOT NULL,
	expires_at timestamptz NOT NULL
);
INSERT INTO leader (id, holder, epoch, expires_at) VALUES (1, '', 0, '-infinity');

-- Readiness heartbeat: /readyz commits a write here.
CREATE TABLE heartbeat (
	holder text PRIMARY KEY,
	at     timestamptz NOT NULL
);

-- Raises code with msg unless ok: checks inside a pipelined transaction
-- must fail on the server, so that the statements sent after them (and
-- COMMIT) do not run. Codes: IB001 the lease moved on (fenced), IB002 an
-- incident changed since it was read.
CREATE FUNCTION incidentbot_assert(ok boolean, code text, msg text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
	IF NOT ok THEN
		RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg;
	END IF;
	RETURN true;
END
$$;
