package incidentbot

import (
	"context"
	"testing"
)

// lookupChat answers users.lookupByEmail and users.info with err.
type lookupChat struct {
	Chat
	err error
}

func (c lookupChat) UserByEmail(context.Context, string) (string, error) { return "", c.err }
func (c lookupChat) UserProfile(context.Context, string) (SlackUser, error) {
	return SlackUser{}, c.err
}

type lookupPager struct{ Pager }

func (lookupPager) User(_ context.Context, id string) (PagerUser, error) {
	return PagerUser{ID: id, Name: "Ada", Email: "ada@example.com"}, nil
}

// Slack saying there is no such user is a fact about the person, kept; a
// lookup refused because of the bot's token or scopes (invalid_auth,
// missing_scope) is not: it fails, and is asked again later. It was kept
// for a day as "no Slack account" or "no such user", and the on-call
// people were not invited after the token was fixed.
func TestLookup_TokenErrorsAreNoFactsAboutThePerson(t *testing.T) {
	ctx := context.Background()
	notFound := &Jobs{Service: &Service{}, Chat: lookupChat{err: &Error{Code: ENOTFOUND, Message: "users_not_found"}}, Pager: lookupPager{}}
	if ps, err := notFound.lookup(ctx, "PADA"); err != nil || len(ps) != 1 || ps[0].SlackID != "" {
		t.Errorf("users_not_found: %+v, %v; want Ada's profile without a Slack account", ps, err)
	}
	if ps, err := notFound.lookup(ctx, "UADA"); err != nil || len(ps) != 1 || !ps[0].Missing {
		t.Errorf("user_not_found: %+v, %v; want a Missing profile", ps, err)
	}
	for _, code := range []string{"invalid_auth", "missing_scope", "token_revoked"} {
		refused := &Jobs{Service: &Service{}, Chat: lookupChat{err: &Error{Code: EREJECTED, Message: code}}, Pager: lookupPager{}}
		for _, id := range []string{"PADA", "UADA"} {
			if ps, err := refused.lookup(ctx, id); err == nil {
				t.Errorf("%s for %s: profiles %+v and no error; want the lookup to fail", code, id, ps)
			}
		}
	}
}
