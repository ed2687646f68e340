package main

import (
	"context"
	"fmt"
	"strings"

	"shopwatch"
	"shopwatch/rules"
)

func init() {
	register(command{name: "scan", summary: "fetch one URL now and print its findings", run: runScan})
}

func runScan(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("scan", "scan URL [--kind K] [--category C] [--browser] [--json]")
	useBrowser := fs.Bool("browser", false, "render the page in headless Chromium (JavaScript pages)")
	kind := fs.String("kind", "product", "page kind: storefront, product or livestream")
	category := fs.String("category", "", "product category (food, cosmetics …)")
	asJSON := fs.Bool("json", false, "print findings as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("scan needs exactly one URL")
	}
	k, err := shopwatch.ParseKind(*kind)
	if err != nil {
		return usagef("%v", err)
	}
	rs, err := a.ruleset()
	if err != nil {
		return err
	}
	var f interface {
		Fetch(context.Context, string) (*shopwatch.Page, error)
	}
	if *useBrowser {
		f, err = a.browser()
	} else {
		f, err = a.fetcher()
	}
	if err != nil {
		return err
	}
	page, ferr := f.Fetch(ctx, pos[0])
	if !page.Responded() {
		return ferr
	}
	if ferr != nil {
		fmt.Fprintf(a.stderr, "shopwatch scan: %v\n", ferr)
	}
	fnd := rs.Check(rules.Input{URL: page.FinalURL, Kind: k, Category: *category, Text: page.Text, HTML: page.HTML})
	return a.printFindings(fnd, *asJSON)
}

func (a *app) printFindings(fnd []shopwatch.Finding, asJSON bool) error {
	if asJSON {
		if fnd == nil {
			fnd = []shopwatch.Finding{}
		}
		return a.printJSON(fnd)
	}
	for _, x := range fnd {
		fmt.Fprintln(a.stdout, findingLine(x))
		if x.Snippet != "" {
			fmt.Fprintf(a.stdout, "          …%s…\n", strings.ReplaceAll(x.Snippet, "\n", " "))
		}
	}
	fmt.Fprintf(a.stdout, "%d findings\n", len(fnd))
	return nil
}
