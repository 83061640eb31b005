package postgres_test

import (
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/postgres/pgtest"
	"github.com/incidentbot/incidentbot/internal/storecontract"
)

// The store's behaviour, the same table internal/store (bbolt) runs,
// against a real PostgreSQL server.
func TestContract(t *testing.T) {
	pgtest.BaseURL(t)
	storecontract.Run(t, func(t *testing.T) incidentbot.Store { return pgtest.MustOpen(t) })
}
