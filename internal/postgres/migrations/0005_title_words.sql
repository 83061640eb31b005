-- The word index of incident titles (incidentbot.TitleWords), for the
-- postmortem's related incidents with similar titles: newest first per
-- word. The rows of existing incidents are written by the migration's Go
-- step (migrate.go), which computes the words as the bot does.
CREATE TABLE incident_title_words (
	word   bytea NOT NULL,
	number integer NOT NULL REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED,
	PRIMARY KEY (word, number)
);
CREATE INDEX incident_title_words_number ON incident_title_words (number);
