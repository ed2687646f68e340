package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/rules"
)

// evalTextWidth is how many columns of a case's text the tables of rules
// eval show.
const evalTextWidth = 40

// rulesEval scores the rule set on a labelled file: recall, precision and
// violation on compliant text, overall and by category or rule, then the
// misses and false positives. It exits 0 when it ran, whatever the
// figures: it is a measurement.
func rulesEval(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("rules eval", "rules eval FILE.tsv [--by category|rule] [--split dev|test] [--enable ID,…] [--misses N] [--json]")
	by := fs.String("by", "category", "group the figures by category or by rule")
	split := fs.String("split", "", "keep only the rows of this split, dev or test (the file needs a split column)")
	enable := fs.String("enable", "", "comma-separated ids of rules that are off by default to switch on")
	misses := fs.Int("misses", 20, "list at most N misses and N false positives (0: none); JSON lists them all")
	asJSON := fs.Bool("json", false, "print the figures, misses and false positives as JSON")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *by != "category" && *by != "rule" {
		return usagef("--by %q: want category or rule", *by)
	}
	if *split != "" && *split != "dev" && *split != "test" {
		return usagef("--split %q: want dev or test", *split)
	}
	if *misses < 0 {
		return usagef("--misses %d: want 0 or more", *misses)
	}
	rs, err := a.rulesEnabled(*enable)
	if err != nil {
		return err
	}
	name := pos[0]
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	cases, err := rules.ReadCases(f, name, rs)
	f.Close()
	var fe *rules.CaseFileError
	if errors.As(err, &fe) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if *split != "" {
		if !slices.ContainsFunc(cases[0].Columns, func(c rules.Column) bool { return c.Name == "split" }) {
			return usagef("--split %s: %s has no split column", *split, name)
		}
		cases = slices.DeleteFunc(cases, func(c rules.Case) bool { return c.Split != *split })
		if len(cases) == 0 {
			return usagef("--split %s: %s has no rows in split %s", *split, name, *split)
		}
	}
	ev := rules.Evaluate(rs, cases)
	var groups []rules.Group
	if *by == "rule" {
		groups = ev.ByRule(nil)
	} else {
		groups = ev.ByCategory()
	}
	for i := range groups {
		if groups[i].Name == "" {
			groups[i].Name = map[string]string{"rule": "(any rule)", "category": "(none)"}[*by]
		}
	}
	var missed, wrong []rules.CaseResult
	for _, r := range ev.Cases {
		if len(r.Missed) > 0 {
			missed = append(missed, r)
		}
		if len(r.Unexpected) > 0 {
			wrong = append(wrong, r)
		}
	}
	if *asJSON {
		return a.printEvalJSON(name, *split, *by, ev.Overall(), groups, missed, wrong)
	}
	all := ev.Overall()
	fmt.Fprintf(a.stdout, "%s: %d cases (%d to find, %d compliant)", name, all.Cases, all.ToFind, all.Compliant)
	if *split != "" {
		fmt.Fprintf(a.stdout, ", split %s", *split)
	}
	fmt.Fprintln(a.stdout)
	tw := newTable(a.stdout)
	fmt.Fprintf(tw, "%s\tCASES\tRECALL\tPRECISION\tVIOLATION ON COMPLIANT\n", strings.ToUpper(*by))
	for _, g := range append(groups, rules.Group{Name: "overall", Score: all}) {
		r, rok := g.Recall()
		p, pok := g.Precision()
		v, vok := g.ViolationRate()
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", cell(g.Name), g.Cases, figure(r, rok, g.Found, g.ToFind),
			figure(p, pok, g.Correct, g.Fired), figure(v, vok, g.ViolationOnCompliant, g.Compliant))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	a.printEvalCases("misses", missed, *misses, func(r rules.CaseResult) []string { return r.Got })
	a.printEvalCases("false positives", wrong, *misses, func(r rules.CaseResult) []string { return r.Unexpected })
	return nil
}

// figure formats a ratio with its counts: 0.800 (4/5), or "-" when there
// is nothing to count.
func figure(v float64, ok bool, a, b int) string {
	if !ok {
		return "-"
	}
	return fmt.Sprintf("%.3f (%d/%d)", v, a, b)
}

// printEvalCases lists up to limit cases under a heading, each with what
// its label expects and what the rules reported (the rules got returns,
// with their matches and severities).
func (a *app) printEvalCases(heading string, rs []rules.CaseResult, limit int, got func(rules.CaseResult) []string) {
	if len(rs) == 0 || limit == 0 {
		fmt.Fprintf(a.stdout, "%s: %d\n", heading, len(rs))
		return
	}
	fmt.Fprintf(a.stdout, "\n%s (%d):\n", heading, len(rs))
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "SOURCE\tEXPECTED\tGOT\tTEXT\tOTHER")
	for _, r := range rs[:min(limit, len(rs))] {
		var other []string
		for _, c := range r.Columns {
			if c.Value != "" {
				other = append(other, c.Name+"="+c.Value)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Source, cell(r.Label), cell(describeGot(r, got(r))),
			cell(truncate(r.Text, evalTextWidth)), cell(truncate(strings.Join(other, " "), evalTextWidth)))
	}
	tw.Flush()
	if len(rs) > limit {
		fmt.Fprintf(a.stdout, "… and %d more (--misses N shows more)\n", len(rs)-limit)
	}
}

// describeGot names each rule with the first text it matched and its
// severity: ad.absolute-term “最香” violation.
func describeGot(r rules.CaseResult, ids []string) string {
	var parts []string
	for _, id := range ids {
		for _, f := range r.Findings {
			if f.Rule == id {
				m := f.Match
				if m == "" {
					m = "(absent)"
				}
				parts = append(parts, fmt.Sprintf("%s “%s” %s", id, m, f.Severity))
				break
			}
		}
	}
	return strings.Join(parts, "; ")
}

// evalScoreJSON is a score with its ratios; a ratio with nothing to count
// is null.
type evalScoreJSON struct {
	Name string `json:"name,omitempty"`
	rules.Score
	Recall        *float64 `json:"recall"`
	Precision     *float64 `json:"precision"`
	ViolationRate *float64 `json:"violation_rate"`
}

func scoreJSON(name string, s rules.Score) evalScoreJSON {
	ptr := func(v float64, ok bool) *float64 {
		if !ok {
			return nil
		}
		return &v
	}
	return evalScoreJSON{Name: name, Score: s, Recall: ptr(s.Recall()), Precision: ptr(s.Precision()), ViolationRate: ptr(s.ViolationRate())}
}

type evalFindingJSON struct {
	Rule     string             `json:"rule"`
	Severity shopwatch.Severity `json:"severity"`
	Match    string             `json:"match"`
	Offset   int                `json:"offset"`
}

type evalCaseJSON struct {
	Source     string            `json:"source"`
	Label      string            `json:"label"`
	Kind       shopwatch.Kind    `json:"kind"`
	Category   string            `json:"category"`
	Judged     string            `json:"judged_category"`
	Text       string            `json:"text"`
	Missed     []string          `json:"missed"`
	Unexpected []string          `json:"unexpected"`
	Findings   []evalFindingJSON `json:"findings"`
	Columns    []rules.Column    `json:"columns"`
}

func caseJSON(r rules.CaseResult) evalCaseJSON {
	out := evalCaseJSON{Source: r.Source, Label: r.Label, Kind: r.Kind, Category: r.Category, Judged: r.Judged, Text: r.Text,
		Missed: r.Missed, Unexpected: r.Unexpected, Findings: []evalFindingJSON{}, Columns: r.Columns}
	if out.Missed == nil {
		out.Missed = []string{}
	}
	if out.Unexpected == nil {
		out.Unexpected = []string{}
	}
	if out.Columns == nil {
		out.Columns = []rules.Column{}
	}
	for _, f := range r.Findings {
		out.Findings = append(out.Findings, evalFindingJSON{Rule: f.Rule, Severity: f.Severity, Match: f.Match, Offset: f.Offset})
	}
	return out
}

func (a *app) printEvalJSON(file, split, by string, all rules.Score, groups []rules.Group, missed, wrong []rules.CaseResult) error {
	out := struct {
		File           string          `json:"file"`
		Split          string          `json:"split,omitempty"`
		Overall        evalScoreJSON   `json:"overall"`
		By             string          `json:"by"`
		Groups         []evalScoreJSON `json:"groups"`
		Misses         []evalCaseJSON  `json:"misses"`
		FalsePositives []evalCaseJSON  `json:"false_positives"`
	}{File: file, Split: split, Overall: scoreJSON("", all), By: by, Groups: []evalScoreJSON{}, Misses: []evalCaseJSON{}, FalsePositives: []evalCaseJSON{}}
	for _, g := range groups {
		out.Groups = append(out.Groups, scoreJSON(g.Name, g.Score))
	}
	for _, r := range missed {
		out.Misses = append(out.Misses, caseJSON(r))
	}
	for _, r := range wrong {
		out.FalsePositives = append(out.FalsePositives, caseJSON(r))
	}
	return a.printJSON(out)
}

// rulesExplain shows how the rules judge one text: its normal form and
// what normalisation changed, the rules that do not judge it, every
// candidate match with its offsets and what became of it (an exception,
// a referral, an overlap …), and the findings with their severity, legal
// basis and reason.
func rulesExplain(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("rules explain", "rules explain TEXT|- [--kind storefront|product|livestream] [--category C] [--enable ID,…] [--json]")
	kind := fs.String("kind", "product", "page kind: storefront, product or livestream")
	category := fs.String("category", "", "product category (food, cosmetics …); detected from the text when not given")
	enable := fs.String("enable", "", "comma-separated ids of rules that are off by default to switch on")
	asJSON := fs.Bool("json", false, "print the trace as JSON")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	k, err := shopwatch.ParseKind(*kind)
	if err != nil {
		return usagef("%v", err)
	}
	text := pos[0]
	if text == "-" {
		raw, err := io.ReadAll(io.LimitReader(stdin, 64<<20))
		if err != nil {
			return fmt.Errorf("read standard input: %w", err)
		}
		if text, _, _, _, err = crawler.DecodeHTML(raw, "text/plain"); err != nil {
			return fmt.Errorf("decode standard input: %w", err)
		}
	}
	rs, cat, err := a.rulesFor(*enable, *category)
	if err != nil {
		return err
	}
	cat = a.pageCategory(cat, "", text, "", *asJSON)
	fnd, tr := rs.CheckTrace(rules.Input{URL: "-", Kind: k, Category: cat, Text: text})
	if *asJSON {
		return a.printJSON(struct {
			Text     string         `json:"text"`
			Kind     shopwatch.Kind `json:"kind"`
			Category string         `json:"category"`
			*rules.Trace
		}{text, k, cat, tr})
	}
	w := a.stdout
	fmt.Fprintf(w, "text:       %s\n", strconv.Quote(text))
	fmt.Fprintf(w, "normalised: %s\n", strconv.Quote(tr.Normalised))
	fmt.Fprintf(w, "kind %s, category %s\n", k, cmp.Or(cat, "(none)"))
	fmt.Fprintf(w, "\nnormalisation (%d changes):\n", len(tr.Folds))
	tw := newTable(w)
	if len(tr.Folds) > 0 {
		fmt.Fprintln(tw, "  BYTE\tORIGINAL\tNORMAL\tWHY")
	}
	for _, f := range tr.Folds {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\n", f.Offset, strconv.Quote(f.Original), strconv.Quote(f.Normal), f.Why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nrules not judging this text (%d):\n", len(tr.Skipped))
	for _, s := range tr.Skipped {
		fmt.Fprintf(tw, "  %s\t%s\n", s.Rule, s.Why)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\ncandidate matches (%d):\n", len(tr.Candidates))
	if len(tr.Candidates) > 0 {
		fmt.Fprintln(tw, "  RULE\tMATCH\tBYTES\tNORMALISED\tFROM\tOUTCOME")
	}
	for _, c := range tr.Candidates {
		outcome := string(c.Outcome)
		switch c.Outcome {
		case rules.OutcomeReferred:
			outcome += " to " + c.ReferredTo + " by exception " + c.Exception
		case rules.OutcomeException:
			outcome += " " + c.Exception
		}
		if c.Why != "" {
			outcome += ": " + c.Why
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d–%d\t%d–%d\t%s\t%s\n", c.Rule, cell(c.Match), c.Offset, c.OffsetEnd, c.Start, c.End, cell(c.From), cell(outcome))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, d := range tr.Dropped {
		fmt.Fprintf(w, "  dropped finding %s “%s”: %s\n", d.Finding.Rule, d.Finding.Match, d.Why)
	}
	fmt.Fprintf(w, "\nfindings (%d):\n", len(fnd))
	for _, f := range fnd {
		m := f.Match
		if m == "" {
			m = "(absent)"
		}
		fmt.Fprintf(w, "  %s %s “%s” at byte %d — %s %s\n", f.Severity, f.Rule, m, f.Offset, f.Law, f.Article)
		fmt.Fprintf(w, "    %s\n", f.Reason)
	}
	return nil
}
