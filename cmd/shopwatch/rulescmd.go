package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/rules"
)

func init() {
	register(command{name: "rules", summary: "check a file against the rules, list rules", run: runRules})
}

func runRules(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "rules", args, map[string]func(context.Context, *app, []string) error{
		"check": rulesCheck,
		"list":  rulesList,
	})
}

// rulesCheck runs the rule set on a text or HTML file (or standard input).
func rulesCheck(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("rules check", "rules check [FILE|-] [--kind K] [--category C] [--json]")
	kind := fs.String("kind", "product", "page kind: storefront, product or livestream")
	category := fs.String("category", "", "product category (food, cosmetics …)")
	asJSON := fs.Bool("json", false, "print findings as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usagef("rules check takes at most one file")
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
	rs, err := a.ruleset()
	if err != nil {
		return err
	}
	in := rules.Input{URL: name, Kind: k, Category: *category}
	if looksHTML(name, raw) {
		html, _, _, _, err := crawler.DecodeHTML(raw, "")
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		_, text, _ := crawler.ExtractText(html)
		in.HTML, in.Text = html, text
	} else {
		text, _, _, _, err := crawler.DecodeHTML(raw, "text/plain")
		if err != nil {
			return fmt.Errorf("decode %s: %w", name, err)
		}
		in.Text = text
	}
	return a.printFindings(rs.Check(in), *asJSON)
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
	for _, r := range rs.Rules() {
		fmt.Fprintf(a.stdout, "%-30s %-10s %-9s %s %s\n", r.ID, r.Category, r.Severity, r.Law, r.Article)
	}
	return nil
}
