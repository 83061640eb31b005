-- The follow-up index: incidents with at least one action item not done
-- (/incident followups and the weekly overdue list read it, whatever the
-- incidents' age). Filled for the incidents already stored.
CREATE TABLE open_actions (
	number bigint PRIMARY KEY REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO open_actions (number)
	SELECT number FROM incidents
	WHERE EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN json_typeof(doc->'action_items') = 'array' THEN doc->'action_items' ELSE '[]'::json END) a
		WHERE a->>'status' IS DISTINCT FROM 'done');
