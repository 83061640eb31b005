package store_test

import (
	"testing"

	incidentbot "github.com/incidentbot/incidentbot"
	"github.com/incidentbot/incidentbot/internal/store/storetest"
	"github.com/incidentbot/incidentbot/internal/storecontract"
)

// The store's behaviour, the same table internal/postgres runs.
func TestContract(t *testing.T) {
	storecontract.Run(t, func(t *testing.T) incidentbot.Store { return storetest.MustOpen(t) })
}
