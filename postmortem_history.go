package incidentbot

import (
	"slices"
	"time"
)

// HistoryWindow is how far back, from an incident's detection, the team's
// medians look.
const HistoryWindow = 90 * 24 * time.Hour

// historySlack is how far past a window's start a walk by incident number
// goes on: numbers follow recording, and PagerDuty may deliver an
// incident's first event up to 48 h after it opened.
const historySlack = 3 * 24 * time.Hour

// historyPage is how many incidents a walk of the list reads at a time.
const historyPage = 200

// gatherHistory reads what a draft needs of earlier incidents, from the
// store's indexes only: the incidents detected in the 90 days before this
// one (by number, newest first, stopping past the window), the service's
// incidents (service index, stopping past the window once five related
// ones are found) and incidents with similar titles (word index, newest
// first, at most five). Its cost follows the number of incidents in the
// window, not the size of the history.
func gatherHistory(tx Tx, inc *Incident) (History, error) {
	until := inc.OpenedAt.UTC()
	since := until.Add(-HistoryWindow)
	h := History{Known: true, Since: since, Until: until}
	inWindow := func(o *Incident) bool {
		return o.Number != inc.Number && !o.Status.Open() && o.ResolvedAt != nil && !o.OpenedAt.Before(since) && o.OpenedAt.Before(until)
	}

	before := inc.Number
	for before > 1 {
		page, err := tx.ListIncidents(before, historyPage, "resolved")
		if err != nil {
			return History{}, err
		}
		done := len(page) < historyPage
		for _, o := range page {
			if o.OpenedAt.Before(since.Add(-historySlack)) {
				done = true
				break
			}
			if inWindow(o) {
				h.All.add(o)
			}
		}
		if done || len(page) == 0 {
			break
		}
		before = page[len(page)-1].Number
	}

	related := map[int]*Related{}
	addRelated := func(o *Incident, why string) {
		r := related[o.Number]
		if r == nil {
			r = relatedOf(o)
			related[o.Number] = r
		}
		if !slices.Contains(r.Why, why) {
			r.Why = append(r.Why, why)
		}
	}

	if keys := ServiceKeys(inc); len(keys) > 0 {
		start := inc.OpenedAt
		if inc.ImpactStartedAt != nil {
			start = *inc.ImpactStartedAt
		}
		s := start.UTC()
		month := &MonthSum{Start: time.Date(s.Year(), s.Month(), 1, 0, 0, 0, 0, time.UTC)}
		h.Month = month
		nRelated := 0
		err := tx.ServiceIncidents(keys, inc.Number, func(o *Incident) bool {
			if o.Number == inc.Number || !SameService(o, inc) {
				return true
			}
			if o.OpenedAt.Before(since.Add(-historySlack)) && nRelated >= maxRelated {
				return false
			}
			if inWindow(o) {
				h.Service.add(o)
			}
			if nRelated < maxRelated && o.OpenedAt.Before(inc.OpenedAt) {
				addRelated(o, "same_service")
				nRelated++
			}
			ostart := o.OpenedAt
			if o.ImpactStartedAt != nil {
				ostart = *o.ImpactStartedAt
			}
			if !ostart.Before(month.Start) && ostart.Before(start) {
				if m, unweighted, ok := weightedMinutes(o); ok {
					month.Incidents++
					month.Minutes += m
					month.Unweighted = month.Unweighted || unweighted
				}
			}
			return true
		})
		if err != nil {
			return History{}, err
		}
	}

	if words := TitleWords(inc.Title); len(words) > 0 {
		n := 0
		err := tx.TitleIncidents(words, min(2, len(words)), inc.Number, func(o *Incident) bool {
			if o.Number != inc.Number && o.OpenedAt.Before(inc.OpenedAt) {
				addRelated(o, "similar_title")
				n++
			}
			return n < maxRelated
		})
		if err != nil {
			return History{}, err
		}
	}
	nums := make([]int, 0, len(related))
	for n := range related {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	slices.Reverse(nums)
	for _, n := range nums[:min(len(nums), maxRelated)] {
		h.Related = append(h.Related, *related[n])
	}
	return h, nil
}

// add adds an incident's response times to the sample.
func (s *Sample) add(o *Incident) {
	if o.AcknowledgedAt != nil && !o.AcknowledgedAt.Before(o.OpenedAt) {
		s.Ack = append(s.Ack, int64(o.AcknowledgedAt.Sub(o.OpenedAt).Round(time.Second)/time.Second))
	}
	if o.ResolvedAt != nil && !o.ResolvedAt.Before(o.OpenedAt) {
		s.Resolve = append(s.Resolve, int64(o.ResolvedAt.Sub(o.OpenedAt).Round(time.Second)/time.Second))
	}
}

func relatedOf(o *Incident) *Related {
	r := &Related{
		ID: o.ID, Title: CleanLine(o.Title), Date: o.OpenedAt.UTC().Format("2006-01-02"), Severity: o.Severity, Status: o.Status,
		RootCause: CleanLine(o.RootCause), Why: []string{},
	}
	if !o.Status.Open() && o.ResolvedAt != nil {
		start := o.OpenedAt
		if o.ImpactStartedAt != nil {
			start = *o.ImpactStartedAt
		}
		r.DurationSec = secs(start, o.ResolvedAt)
	}
	return r
}
