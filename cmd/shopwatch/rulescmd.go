package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"shopwatch"
	"shopwatch/configs"
	"shopwatch/crawler"
	"shopwatch/rules"
)

func init() {
	register(command{name: "rules", summary: "check a file against the rules, explain a result, measure the rules on labelled cases, list, lint and test rule files", run: runRules})
	verbSummaries["rules check"] = "check a text or HTML file (or standard input) against the rules"
	verbSummaries["rules list"] = "list the rules with their legal basis"
	verbSummaries["rules lint"] = "check rule files without running their examples"
	verbSummaries["rules test"] = "run every rule's own examples"
	verbSummaries["rules eval"] = "measure recall and precision of the rules on a labelled TSV file"
	verbSummaries["rules explain"] = "show how the rules judge one text: normal form, candidates, exceptions, findings"
}

func runRules(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "rules", args, map[string]func(context.Context, *app, []string) error{
		"check":   rulesCheck,
		"eval":    rulesEval,
		"explain": rulesExplain,
		"list":    rulesList,
		"lint":    rulesLint,
		"test":    rulesTest,
	})
}

// rulesCheck runs the rule set on a text or HTML file (or standard input).
// Without --category the category is detected from the page.
func rulesCheck(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("rules check", "rules check [FILE|-] [--kind storefront|product|livestream] [--category C] [--enable ID,…] [--json] [--fail-on-findings]")
	kind := fs.String("kind", "product", "page kind: storefront, product or livestream")
	category := fs.String("category", "", "product category (food, cosmetics …); detected from the page when not given")
	enable := fs.String("enable", "", "comma-separated ids of rules that are off by default to switch on (e.g. licence.psb-missing)")
	asJSON := fs.Bool("json", false, "print findings as JSON")
	failOn := fs.Bool("fail-on-findings", false, "exit 1 when there are findings")
	pos, err := parseArgs(fs, args, 0, 1)
	if err != nil {
		return err
	}
	name := "-"
	if len(pos) == 1 {
		name = pos[0]
	}
	k, err := shopwatch.ParseKind(*kind)
	if err != nil {
		return usagef("%v", err)
	}
	var raw []byte
	if name == "-" {
		raw, err = io.ReadAll(io.LimitReader(stdin, 64<<20))
	} else {
		raw, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	rs, cat, err := a.rulesFor(*enable, *category)
	if err != nil {
		return err
	}
	in := rules.Input{URL: name, Kind: k, Category: cat}
	if looksHTML(name, raw) {
		html, _, _, _, err := crawler.DecodeHTML(raw, "")
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		_, text, _, regions := crawler.ExtractRegions(html)
		in.HTML, in.Text, in.Regions = html, text, regions
	} else {
		text, _, _, _, err := crawler.DecodeHTML(raw, "text/plain")
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		in.Text = text
	}
	in.Category = a.pageCategory(in.Category, "", in.Text, in.HTML, *asJSON)
	fnd := rs.Check(in)
	if err := a.printFindings(fnd, *asJSON); err != nil {
		return err
	}
	return failOnFindings(*failOn, len(fnd))
}

func looksHTML(name string, b []byte) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".html", ".htm", ".xhtml":
		return true
	case ".txt":
		return false
	}
	head := bytes.ToLower(b[:min(len(b), 1024)])
	return bytes.Contains(head, []byte("<html")) || bytes.Contains(head, []byte("<!doctype html")) ||
		bytes.Contains(head, []byte("<body")) || bytes.Contains(head, []byte("<div"))
}

func rulesList(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("rules list", "rules list [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	rs, err := a.ruleset()
	if err != nil {
		return err
	}
	if *asJSON {
		return a.printJSON(rs.Rules())
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "ID\tCATEGORY\tSEVERITY\tLEGAL BASIS")
	for _, r := range rs.Rules() {
		off := ""
		if r.Disabled {
			off = " (off by default)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s%s%s%s\n", r.ID, r.Category, r.Severity, r.Law, r.Article, r.Item, off)
	}
	return tw.Flush()
}

// loadRulesFor loads the rule files or directories named in args (all as
// one set), or, with none, the configured rule directory or the built-in
// set.
func (a *app) loadRulesFor(args []string, opt rules.Options) (*rules.RuleSet, string, error) {
	switch {
	case len(args) == 1:
		st, err := os.Stat(args[0])
		if err != nil {
			return nil, args[0], fmt.Errorf("rules: %w", err)
		}
		if st.IsDir() {
			rs, err := rules.LoadDirWith(args[0], opt)
			return rs, args[0], err
		}
		rs, err := rules.LoadFiles(args, opt)
		return rs, args[0], err
	case len(args) > 1:
		rs, err := rules.LoadFiles(args, opt)
		return rs, strings.Join(args, " "), err
	}
	c, err := a.config()
	if err != nil {
		return nil, "", err
	}
	if c.Rules.Dir != "" {
		rs, err := rules.LoadDirWith(c.Rules.Dir, opt)
		return rs, c.Rules.Dir, err
	}
	rs, err := rules.LoadFSWith(configs.FS, "rules", opt)
	return rs, "built-in rules", err
}

// rulesLint checks rule files without running their examples: syntax,
// unknown or repeated fields, missing legal basis, bad expressions,
// duplicate ids, references to unknown rules. It prints every problem as
// file:line:column and exits 1 when there is one.
func rulesLint(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("rules lint", "rules lint [DIR | FILE…] [--json]")
	asJSON := fs.Bool("json", false, "print the problems as JSON")
	pos, err := parseArgs(fs, args, 0, -1)
	if err != nil {
		return err
	}
	type problemJSON struct {
		File    string `json:"file"`
		Line    int    `json:"line"`
		Column  int    `json:"column"`
		Rule    string `json:"rule,omitempty"`
		Message string `json:"message"`
	}
	out := struct {
		Source   string        `json:"source"`
		OK       bool          `json:"ok"`
		Rules    int           `json:"rules"`
		Problems []problemJSON `json:"problems"`
	}{Problems: []problemJSON{}}
	rs, what, err := a.loadRulesFor(pos, rules.Options{SkipExamples: true})
	out.Source = what
	if err != nil {
		var le *rules.LoadError
		if !errors.As(err, &le) {
			return err
		}
		for _, p := range le.Problems {
			if *asJSON {
				out.Problems = append(out.Problems, problemJSON{File: p.File, Line: p.Line, Column: p.Column, Rule: p.Rule, Message: p.Msg})
			} else {
				fmt.Fprintln(a.stdout, p.Error())
			}
		}
		if *asJSON {
			if err := a.printJSON(out); err != nil {
				return err
			}
		}
		return &errExit{code: exitFailed, err: fmt.Errorf("%s: %d problems", what, len(le.Problems))}
	}
	// What loading accepts but an author should hear of: shared and
	// shadowed patterns (rules.RuleSet.Lint).
	lint := rs.Lint()
	out.Rules = len(rs.Rules())
	for _, p := range lint {
		if *asJSON {
			out.Problems = append(out.Problems, problemJSON{File: p.File, Line: p.Line, Column: p.Column, Rule: p.Rule, Message: p.Msg})
		} else {
			fmt.Fprintln(a.stdout, p.Error())
		}
	}
	if *asJSON {
		out.OK = len(lint) == 0
		if err := a.printJSON(out); err != nil {
			return err
		}
	}
	if len(lint) > 0 {
		return &errExit{code: exitFailed, err: fmt.Errorf("%s: %d problems", what, len(lint))}
	}
	if !*asJSON {
		fmt.Fprintf(a.stdout, "%s: %d rules, no problems\n", what, len(rs.Rules()))
	}
	return nil
}

// rulesTest runs every rule's own positive and negative examples and
// prints one line per rule (and one per failing example); it exits 1 when
// an example fails.
func rulesTest(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("rules test", "rules test [DIR | FILE…] [--all] [--json]")
	verbose := fs.Bool("all", false, "print every example, not only failures")
	asJSON := fs.Bool("json", false, "print every example's result as JSON")
	pos, err := parseArgs(fs, args, 0, -1)
	if err != nil {
		return err
	}
	rs, what, err := a.loadRulesFor(pos, rules.Options{SkipExamples: true})
	if err != nil {
		return err
	}
	results := rs.RunExamples()
	if *asJSON {
		return a.printExampleResults(what, results)
	}
	failed := 0
	byRule := map[string][2]int{}
	var order []string
	for _, r := range results {
		c, seen := byRule[r.Rule]
		if !seen {
			order = append(order, r.Rule)
		}
		c[0]++
		if r.Problem != "" {
			c[1]++
			failed++
		}
		byRule[r.Rule] = c
	}
	for _, id := range order {
		c := byRule[id]
		status := "ok  "
		if c[1] > 0 {
			status = "FAIL"
		}
		fmt.Fprintf(a.stdout, "%s %-40s %d examples", status, id, c[0])
		if c[1] > 0 {
			fmt.Fprintf(a.stdout, ", %d failed", c[1])
		}
		fmt.Fprintln(a.stdout)
		for _, r := range results {
			if r.Rule != id || (r.Problem == "" && !*verbose) {
				continue
			}
			if r.Problem != "" {
				fmt.Fprintf(a.stdout, "     %s: %s\n", r.Example.Source, r.Problem)
			} else {
				sign := "+"
				if !r.Positive {
					sign = "-"
				}
				fmt.Fprintf(a.stdout, "     %s %s %q\n", r.Example.Source, sign, r.Example.Text)
			}
		}
	}
	fmt.Fprintf(a.stdout, "%d passed, %d failed\n", len(results)-failed, failed)
	if failed > 0 {
		return &errExit{code: exitFailed, err: fmt.Errorf("%s: %d of %d examples failed", what, failed, len(results))}
	}
	return nil
}

// printExampleResults prints the results of rules test as JSON and exits 1
// when an example failed.
func (a *app) printExampleResults(what string, results []rules.ExampleResult) error {
	type resultJSON struct {
		Rule     string   `json:"rule"`
		Source   string   `json:"source"`
		Positive bool     `json:"positive"`
		Text     string   `json:"text"`
		OK       bool     `json:"ok"`
		Matches  []string `json:"matches,omitempty"`
		Problem  string   `json:"problem,omitempty"`
	}
	out := struct {
		Source  string       `json:"source"`
		Passed  int          `json:"passed"`
		Failed  int          `json:"failed"`
		Results []resultJSON `json:"results"`
	}{Source: what, Results: []resultJSON{}}
	for _, r := range results {
		if r.Problem == "" {
			out.Passed++
		} else {
			out.Failed++
		}
		out.Results = append(out.Results, resultJSON{Rule: r.Rule, Source: r.Example.Source, Positive: r.Positive,
			Text: r.Example.Text, OK: r.Problem == "", Matches: r.Matches, Problem: r.Problem})
	}
	if err := a.printJSON(out); err != nil {
		return err
	}
	if out.Failed > 0 {
		return &errExit{code: exitFailed, err: fmt.Errorf("%s: %d of %d examples failed", what, out.Failed, len(results))}
	}
	return nil
}

// rulesEnabled is the configured rule set with the rules enable lists
// (comma-separated ids, "" for none) switched on; an unknown id is a usage
// error.
func (a *app) rulesEnabled(enable string) (*rules.RuleSet, error) {
	rs, err := a.ruleset()
	if err != nil || enable == "" {
		return rs, err
	}
	if rs, err = rs.Enable(strings.Split(enable, ",")...); err != nil {
		return nil, usagef("%v", err)
	}
	return rs, nil
}

// rulesFor is rulesEnabled with the category a text is judged under
// (checkCategory): the rule set and the category, or a usage error.
func (a *app) rulesFor(enable, category string) (*rules.RuleSet, string, error) {
	rs, err := a.rulesEnabled(enable)
	if err != nil {
		return nil, "", err
	}
	cat, err := checkCategory(rs, category)
	return rs, cat, err
}

// checkCategory returns the product category c (an id, or a Chinese name
// from configs/lexicon/categories.yaml such as 食品) in its normal form ("" for
// none), or a usage error naming c and the categories rs knows: a typo
// must never switch the category rules off.
func checkCategory(rs *rules.RuleSet, c string) (string, error) {
	id, ok := rs.CategoryID(c) // a Chinese name of a category: 食品 is food
	if !ok {
		return "", usagef("unknown category %q (known: %s)", c, strings.Join(rs.Categories(), ", "))
	}
	return id, nil
}

// pageCategory is the category a page is judged under, as a sweep judges
// it (rules.PageCategory); a detected one is announced unless the output
// is JSON.
func (a *app) pageCategory(given, title, text, html string, asJSON bool) string {
	c := rules.PageCategory(given, title, text, html)
	if given == "" && c != "" && !asJSON {
		fmt.Fprintf(a.stdout, "category: %s (detected; give --category to set it)\n", c)
	}
	return c
}
