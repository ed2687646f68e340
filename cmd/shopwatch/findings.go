package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server"
)

func init() {
	register(command{name: "findings", summary: "list findings: each problem once, with first/last seen, state and evidence", run: runFindings})
}

const findingsUsage = `findings [--rule ID,ID] [--severity S] [--category C] [--platform P] [--jurisdiction J]
       [--target ID|URL] [--since WHEN] [--until WHEN] [--state open|gone] [--stage STAGE] [--sweep ID] [--json] [--exit-code]

Each problem is listed once: the latest evidence id can be passed to
"shopwatch evidence export". WHEN is a duration back from now (7d, 24h, 90m),
a date (2026-03-15, local time; --until takes the whole day) or an RFC 3339
time. --since and --until keep the findings seen in that period (first seen
no later than --until, last seen no earlier than --since).`

func runFindings(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("findings", findingsUsage)
	sweepID := fs.String("sweep", "", "only findings seen in this sweep")
	ruleList := fs.String("rule", "", "only these rule ids, comma-separated")
	severity := fs.String("severity", "", "only this severity: violation, review or info")
	category := fs.String("category", "", "only this rule category (licence, advertising …)")
	platform := fs.String("platform", "", "only targets on this platform")
	jurisdiction := fs.String("jurisdiction", "", "only targets in this jurisdiction")
	target := fs.String("target", "", "only this target, by id or URL")
	since := fs.String("since", "", "only findings last seen at or after WHEN")
	until := fs.String("until", "", "only findings first seen at or before WHEN")
	state := fs.String("state", "", "only findings in this state: open or gone")
	stage := fs.String("stage", "", "only findings at this stage of their handling: new, confirmed, dismissed, lead, case, not-filed, first-offence, rectification, closed")
	asJSON := fs.Bool("json", false, "print JSON: every field, snake_case keys, RFC 3339 times")
	exitCode := fs.Bool("exit-code", false, "exit 1 when any finding is listed")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("findings takes no arguments, got %q\nUsage: shopwatch %s", pos, strings.SplitN(findingsUsage, "\n\n", 2)[0])
	}
	now := time.Now()
	f := db.Filter{Sweep: *sweepID}
	switch s := shopwatch.Severity(*severity); s {
	case "", shopwatch.SeverityViolation, shopwatch.SeverityReview, shopwatch.SeverityInfo:
		f.Severity = s
	default:
		return usagef("unknown severity %q (want violation, review or info)", *severity)
	}
	switch s := shopwatch.FindingState(*state); s {
	case "", shopwatch.FindingOpen, shopwatch.FindingGone:
		f.State = s
	default:
		return usagef("unknown state %q (want open or gone)", *state)
	}
	switch st := shopwatch.Stage(*stage); st {
	case "", shopwatch.StageNew, shopwatch.StageConfirmed, shopwatch.StageDismissed, shopwatch.StageLead, shopwatch.StageCase,
		shopwatch.StageNotFiled, shopwatch.StageFirstOffence, shopwatch.StageRectification, shopwatch.StageClosed:
		f.Stage = st
	default:
		return usagef("unknown stage %q (want new, confirmed, dismissed, lead, case, not-filed, first-offence, rectification or closed)", *stage)
	}
	if *since != "" {
		if f.Since, err = parseWhen(*since, now, false); err != nil {
			return usagef("--since: %v", err)
		}
	}
	if *until != "" {
		if f.Until, err = parseWhen(*until, now, true); err != nil {
			return usagef("--until: %v", err)
		}
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return usagef("--until %s is before --since %s", *until, *since)
	}
	f.Rules = splitList(*ruleList)
	f.Category = strings.TrimSpace(*category)

	d, err := a.workspace(ctx, true)
	if err != nil {
		return err
	}
	if err := a.checkRuleFilter(ctx, d, f.Rules, f.Category); err != nil {
		return err
	}
	if f.Targets, err = selectTargets(ctx, d, *target, *platform, *jurisdiction); err != nil {
		return err
	}
	if f.Sweep != "" {
		if _, err := d.GetSweep(ctx, f.Sweep); errors.Is(err, db.ErrNotFound) {
			return usagef("unknown sweep %q", f.Sweep)
		} else if err != nil {
			return err
		}
	}
	found, err := d.ListFindings(ctx, f)
	if err != nil {
		return err
	}
	var some error
	if *exitCode && len(found) > 0 {
		some = &errExit{code: exitFailed, err: errors.New("")}
	}
	if *asJSON {
		if found == nil {
			found = []shopwatch.Finding{}
		}
		if err := a.printJSON(found); err != nil {
			return err
		}
		return some
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	findingsTable(tw, found)
	if err := tw.Flush(); err != nil {
		return err
	}
	open := 0
	for _, x := range found {
		if x.State != shopwatch.FindingGone {
			open++
		}
	}
	fmt.Fprintf(a.stdout, "%d findings (%d open, %d gone)\n", len(found), open, len(found)-open)
	return some
}

// findingsTable writes the findings table: one row per problem, with the
// latest evidence id a case handler exports.
func findingsTable(w io.Writer, found []shopwatch.Finding) {
	if len(found) == 0 {
		return
	}
	fmt.Fprintln(w, "ID\tSTATE\tSEVERITY\tRULE\tMATCH\tFIRST SEEN\tLAST SEEN\tSEEN\tLATEST EVIDENCE\tURL")
	for _, x := range found {
		m := x.Match
		if m == "" {
			m = "(absent)"
		}
		ev := "-"
		if n := len(x.EvidenceIDs); n > 0 {
			ev = x.EvidenceIDs[n-1]
		}
		state := string(x.State)
		if x.State == shopwatch.FindingGone {
			state += " " + localTime(x.GoneAt)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", x.ID, state, x.Severity, x.Rule, m,
			localTime(x.FirstSeen), localTime(x.LastSeen), x.TimesSeen, ev, x.URL)
	}
}

func localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// checkRuleFilter refuses rule ids and categories that neither the rule set
// nor any stored finding knows: a typo would otherwise list nothing.
func (a *app) checkRuleFilter(ctx context.Context, d workspace, ids []string, category string) error {
	if len(ids) == 0 && category == "" {
		return nil
	}
	rs, err := a.ruleset()
	if err != nil {
		return err
	}
	knownRule, knownCat := map[string]bool{}, map[string]bool{}
	for _, r := range rs.Rules() {
		knownRule[r.ID], knownCat[r.Category] = true, true
	}
	var unknown []string
	for _, id := range ids {
		if !knownRule[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 || (category != "" && !knownCat[category]) {
		// Findings of rules since removed from the set still count.
		stored, err := d.ListFindings(ctx, db.Filter{})
		if err != nil {
			return err
		}
		for _, x := range stored {
			knownRule[x.Rule], knownCat[x.Category] = true, true
		}
	}
	unknown = unknown[:0]
	for _, id := range ids {
		if !knownRule[id] {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		return usagef("unknown rule id %s (see shopwatch rules list)", quoteList(unknown))
	}
	if category != "" && !knownCat[category] {
		return usagef("unknown rule category %q (want one of %s)", category, strings.Join(sortedSet(knownCat), ", "))
	}
	return nil
}

// selectTargets returns the ids of the targets that --target, --platform
// and --jurisdiction select, or nil when none of them is set. A target that
// does not exist, or a platform or jurisdiction no target has, is a usage
// error naming it.
func selectTargets(ctx context.Context, d workspace, target, platform, jurisdiction string) ([]string, error) {
	target, platform, jurisdiction = strings.TrimSpace(target), strings.TrimSpace(platform), strings.TrimSpace(jurisdiction)
	if target == "" && platform == "" && jurisdiction == "" {
		return nil, nil
	}
	ts, err := d.ListTargets(ctx, server.TargetQuery{State: "active"})
	if err != nil {
		return nil, err
	}
	if target != "" {
		var t *shopwatch.Target
		norm, nerr := db.NormalizeURL(target)
		for i := range ts {
			if ts[i].ID == target {
				t = &ts[i]
				break
			}
			if u, err := db.NormalizeURL(ts[i].URL); nerr == nil && err == nil && u == norm {
				t = &ts[i]
			}
		}
		if t == nil {
			return nil, usagef("unknown target %q (no target has that id or URL; see shopwatch target list)", target)
		}
		ts = []shopwatch.Target{*t}
	}
	platforms, places := map[string]bool{}, map[string]bool{}
	for _, t := range ts {
		platforms[t.Platform], places[t.Jurisdiction] = true, true
	}
	if platform != "" && !anyFold(platforms, platform) {
		return nil, usagef("no target on platform %q (targets have %s)", platform, quoteList(sortedSet(platforms)))
	}
	if jurisdiction != "" && !anyFold(places, jurisdiction) {
		return nil, usagef("no target in jurisdiction %q (targets have %s)", jurisdiction, quoteList(sortedSet(places)))
	}
	ids := []string{}
	for _, t := range ts {
		if (platform == "" || strings.EqualFold(t.Platform, platform)) && (jurisdiction == "" || strings.EqualFold(t.Jurisdiction, jurisdiction)) {
			ids = append(ids, t.ID)
		}
	}
	return ids, nil
}

func anyFold(set map[string]bool, s string) bool {
	for k := range set {
		if strings.EqualFold(k, s) {
			return true
		}
	}
	return false
}

func sortedSet(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "none"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// splitList splits a comma-separated flag value, dropping empty items and
// repeats.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// parseWhen reads a --since or --until value: a duration back from now
// (7d, 2w, 24h, 90m, 1h30m), a date in local time (2026-03-15; with
// endOfDay the end of that day, so that --until includes it) or an RFC 3339
// time.
func parseWhen(s string, now time.Time, endOfDay bool) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, s, time.Local); err == nil {
		if endOfDay {
			t = t.AddDate(0, 0, 1).Add(-time.Nanosecond)
		}
		return t, nil
	}
	if n, unit := strings.TrimRight(s, "dw"), strings.TrimLeft(s, "0123456789"); (unit == "d" || unit == "w") && n != "" {
		days, err := strconv.Atoi(n)
		if err == nil && days <= 100000 {
			if unit == "w" {
				days *= 7
			}
			return now.AddDate(0, 0, -days), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a duration (7d, 24h), a date (2006-01-02) or an RFC 3339 time", s)
}
