package postgres

// PauseForTest stops (or resumes) a lease's renewals and step-downs, as a
// SIGSTOP of its process would: its leader's context stays alive.
func PauseForTest(l *Lease, paused bool) { l.paused.Store(paused) }

// SetLeadingForTest marks the store as its process's leader's (its own
// commits then send no NOTIFY).
func SetLeadingForTest(db *DB, leading bool) { db.leading.Store(leading) }
