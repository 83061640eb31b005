-- The timeline's and the service index's foreign keys are checked at
-- commit: opening an incident appends its first entry before it writes the
-- incident, in one transaction.
ALTER TABLE timeline DROP CONSTRAINT timeline_number_fkey,
	ADD CONSTRAINT timeline_number_fkey FOREIGN KEY (number) REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE incident_services DROP CONSTRAINT incident_services_number_fkey,
	ADD CONSTRAINT incident_services_number_fkey FOREIGN KEY (number) REFERENCES incidents (number) DEFERRABLE INITIALLY DEFERRED;
