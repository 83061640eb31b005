package jirafake

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// jql is a parsed query of the subset the fake understands.
type jql struct {
	clauses  []clause
	projects []string
	orderBy  string // "updated" or "created"
	desc     bool
}

type clause struct {
	field, op string
	values    []string
	at        time.Time // updated, created
}

func (q jql) match(is *Issue) bool {
	for _, c := range q.clauses {
		if !c.match(is) {
			return false
		}
	}
	return true
}

func (c clause) match(is *Issue) bool {
	var ok bool
	switch c.field {
	case "project":
		ok = slices.ContainsFunc(c.values, func(v string) bool { return strings.EqualFold(v, is.Project) })
	case "labels":
		ok = slices.ContainsFunc(is.Labels, func(l string) bool { return slices.Contains(c.values, l) })
	case "statuscategory":
		st, _ := statusNamed(is.Status)
		ok = slices.ContainsFunc(c.values, func(v string) bool {
			return strings.EqualFold(v, st.category) || strings.EqualFold(v, categoryName(st.category))
		})
	case "status":
		ok = slices.ContainsFunc(c.values, func(v string) bool { return strings.EqualFold(v, is.Status) })
	case "updated", "created":
		t := is.Updated
		if c.field == "created" {
			t = is.Created
		}
		switch c.op {
		case ">=":
			return !t.Before(c.at)
		case ">":
			return t.After(c.at)
		case "<=":
			return !t.After(c.at)
		case "<":
			return t.Before(c.at)
		}
	}
	if c.op == "!=" || c.op == "not in" {
		return !ok
	}
	return ok
}

func (q jql) sort(list []*Issue) {
	key := func(is *Issue) time.Time {
		if q.orderBy == "updated" {
			return is.Updated
		}
		return is.Created
	}
	slices.SortStableFunc(list, func(a, b *Issue) int {
		c := key(a).Compare(key(b))
		if q.desc || q.orderBy == "" {
			c = -c // Jira's default order is newest first
		}
		return c
	})
}

// tokens splits a query into words, operators and quoted strings (kept
// with their quote, unescaped).
func tokens(s string) ([]string, error) {
	var out []string
	for i := 0; i < len(s); {
		r := rune(s[i])
		switch {
		case unicode.IsSpace(r):
			i++
		case r == '"' || r == '\'':
			var b strings.Builder
			b.WriteByte('"')
			j := i + 1
			for ; j < len(s) && rune(s[j]) != r; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, fmt.Errorf("a quoted string is not closed")
			}
			out = append(out, b.String())
			i = j + 1
		case strings.ContainsRune("=!<>~", r):
			j := i + 1
			if j < len(s) && s[j] == '=' {
				j++
			}
			out = append(out, s[i:j])
			i = j
		case r == '(' || r == ')' || r == ',':
			out = append(out, string(r))
			i++
		default:
			j := i
			for j < len(s) && !unicode.IsSpace(rune(s[j])) && !strings.ContainsRune("=!<>~(),\"'", rune(s[j])) {
				j++
			}
			out = append(out, s[i:j])
			i = j
		}
	}
	return out, nil
}

func unquote(t string) string { return strings.TrimPrefix(t, `"`) }

// relative reads a JQL time: "-15m", "-2h", "-1d", "-1w", "2025/10/14
// 03:15", "2025-10-14".
func relative(v string, now time.Time) (time.Time, bool) {
	if len(v) > 1 && (v[0] == '-' || v[0] == '+') {
		n, err := strconv.Atoi(v[1 : len(v)-1])
		if err != nil {
			return time.Time{}, false
		}
		unit := map[byte]time.Duration{'m': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[v[len(v)-1]]
		if unit == 0 {
			return time.Time{}, false
		}
		d := time.Duration(n) * unit
		if v[0] == '-' {
			d = -d
		}
		return now.Add(d), true
	}
	for _, layout := range []string{"2006/01/02 15:04", "2006-01-02 15:04", "2006/01/02", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, true // the fake's users are in UTC
		}
	}
	return time.Time{}, false
}

// parseJQL parses the subset; the message is Jira's 400 text for a query
// it cannot run.
func parseJQL(s string, now time.Time) (jql, string) {
	var q jql
	bad := func(format string, args ...any) (jql, string) {
		return jql{}, "Error in the JQL Query: " + fmt.Sprintf(format, args...)
	}
	toks, err := tokens(s)
	if err != nil {
		return bad("%v", err)
	}
	if len(toks) == 0 {
		return bad("the query is empty; a bounded query is required")
	}
	i := 0
	for i < len(toks) {
		if strings.EqualFold(toks[i], "order") {
			if i+2 >= len(toks) || !strings.EqualFold(toks[i+1], "by") {
				return bad("expecting 'by' after 'order'")
			}
			q.orderBy = strings.ToLower(toks[i+2])
			if q.orderBy != "updated" && q.orderBy != "created" {
				return bad("the fake orders by updated or created only, not '%s'", toks[i+2])
			}
			i += 3
			if i < len(toks) {
				switch strings.ToLower(toks[i]) {
				case "asc":
				case "desc":
					q.desc = true
				default:
					return bad("expecting ASC or DESC but got '%s'", toks[i])
				}
				i++
			}
			if i != len(toks) {
				return bad("unexpected '%s' after ORDER BY", toks[i])
			}
			break
		}
		if len(q.clauses) > 0 {
			if !strings.EqualFold(toks[i], "and") {
				return bad("expecting 'AND' or 'ORDER BY' but got '%s' (the fake joins clauses with AND only)", toks[i])
			}
			i++
		}
		if i+1 >= len(toks) {
			return bad("expecting an operator after '%s'", toks[i])
		}
		c := clause{field: strings.ToLower(toks[i]), op: strings.ToLower(toks[i+1])}
		i += 2
		if c.op == "not" && i < len(toks) && strings.EqualFold(toks[i], "in") {
			c.op = "not in"
			i++
		}
		switch c.field {
		case "project", "labels", "status", "statuscategory":
			switch c.op {
			case "=", "!=":
				if i >= len(toks) {
					return bad("expecting a value after '%s'", c.op)
				}
				c.values = []string{unquote(toks[i])}
				i++
			case "in", "not in":
				if i >= len(toks) || toks[i] != "(" {
					return bad("expecting '(' after IN")
				}
				i++
				for i < len(toks) && toks[i] != ")" {
					if toks[i] != "," {
						c.values = append(c.values, unquote(toks[i]))
					}
					i++
				}
				if i >= len(toks) {
					return bad("expecting ')'")
				}
				i++
			default:
				return bad("the operator '%s' is not supported by the field '%s'", c.op, c.field)
			}
			if c.field == "project" && c.op == "=" {
				q.projects = append(q.projects, c.values...)
			}
		case "updated", "created":
			if !slices.Contains([]string{">=", ">", "<=", "<"}, c.op) {
				return bad("the operator '%s' is not supported by the field '%s'", c.op, c.field)
			}
			if i >= len(toks) {
				return bad("expecting a date after '%s'", c.op)
			}
			at, ok := relative(unquote(toks[i]), now)
			if !ok {
				return bad("date value '%s' for field '%s' is invalid", unquote(toks[i]), c.field)
			}
			c.at = at
			i++
		default:
			return bad("the field '%s' does not exist or you do not have permission to view it (the fake knows project, labels, status, statusCategory, updated, created)", toks[i-2])
		}
		q.clauses = append(q.clauses, c)
	}
	if len(q.clauses) == 0 {
		return bad("the query is not bounded: add a search restriction")
	}
	return q, ""
}
