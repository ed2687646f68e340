package main

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/rules"
)

func init() {
	register(command{name: "scan", summary: "fetch one URL now and print its findings", run: runScan})
}

func runScan(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("scan", "scan URL [--kind K] [--category C] [--browser] [--mobile] [--watch 30s [--until CSS]] [--json [--page]] [--fail-on-findings]")
	useBrowser := fs.Bool("browser", false, "render the page in headless Chromium (JavaScript pages)")
	mobile := fs.Bool("mobile", false, "render the page as a phone (H5 pages); implies --browser")
	watch := fs.Duration("watch", 0, "stay on the page this long (a livestream room), recording every text that appears and timed screenshots; implies --browser")
	until := fs.String("until", "", "with --watch: stop early once this CSS selector matches")
	kind := fs.String("kind", "product", "page kind: storefront, product or livestream (livestream with --watch)")
	category := fs.String("category", "", "product category (food, cosmetics …); detected from the page when not given, as a sweep does")
	asJSON := fs.Bool("json", false, "print findings as JSON")
	withPage := fs.Bool("page", false, "also print the page (status, final URL, exchanges …); with --json, as {\"page\", \"findings\"}")
	failOn := fs.Bool("fail-on-findings", false, "exit 1 when the page has findings")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *watch < 0 {
		return usagef("--watch needs a positive duration")
	}
	if *until != "" && *watch == 0 {
		return usagef("--until needs --watch")
	}
	kindSet := false
	fs.Visit(func(f *flag.Flag) { kindSet = kindSet || f.Name == "kind" })
	if *watch > 0 && !kindSet {
		*kind = string(shopwatch.KindLivestream)
	}
	k, err := shopwatch.ParseKind(*kind)
	if err != nil {
		return usagef("%v", err)
	}
	rs, err := a.ruleset()
	if err != nil {
		return err
	}
	cat, err := checkCategory(rs, *category)
	if err != nil {
		return err
	}
	var page *shopwatch.Page
	var ferr error
	if *useBrowser || *mobile || *watch > 0 {
		lb, err := a.browser()
		if err != nil {
			return err
		}
		var opts []crawler.RenderOption
		if *mobile {
			opts = append(opts, crawler.Mobile())
		}
		if *watch > 0 {
			c, err := a.config()
			if err != nil {
				return err
			}
			w := a.liveOptions(c)
			w.Window, w.EndSelector = *watch, *until
			page, ferr = lb.Watch(ctx, pos[0], w, opts...)
		} else {
			page, ferr = lb.FetchWith(ctx, pos[0], opts...)
		}
	} else {
		f, err := a.fetcher()
		if err != nil {
			return err
		}
		page, ferr = f.Fetch(ctx, pos[0])
	}
	if ferr != nil {
		// A 404, a server error, a page that is not HTML or one cut at the
		// size limit was not checked: that is a failure, never "0 findings".
		if *withPage && page.Responded() && !*asJSON {
			a.printPage(page)
		}
		return fmt.Errorf("%w (the page was not checked)", ferr)
	}
	page.Category = a.pageCategory(cat, page.Title, page.Text, page.HTML, *asJSON)
	fnd := rs.Check(rules.Input{URL: page.FinalURL, Kind: k, Category: page.Category, Text: page.Text, HTML: page.HTML, Regions: page.Regions})
	crawler.AnnotateSeen(page, fnd)
	if err := a.printScan(page, fnd, *withPage, *asJSON); err != nil {
		return err
	}
	return failOnFindings(*failOn, len(fnd))
}

// failOnFindings is the exit of a check asked to fail when it finds
// something: 1, "checked and found problems".
func failOnFindings(asked bool, n int) error {
	if asked && n > 0 {
		return &errExit{code: exitFailed, err: fmt.Errorf("%d findings", n)}
	}
	return nil
}

// printScan prints the findings of a scan, with the page when asked.
func (a *app) printScan(page *shopwatch.Page, fnd []shopwatch.Finding, withPage, asJSON bool) error {
	if !withPage {
		return a.printFindings(fnd, asJSON)
	}
	if asJSON {
		if fnd == nil {
			fnd = []shopwatch.Finding{}
		}
		return a.printJSON(struct {
			Page     *shopwatch.Page     `json:"page"`
			Findings []shopwatch.Finding `json:"findings"`
		}{page, fnd})
	}
	a.printPage(page)
	return a.printFindings(fnd, false)
}

// printPage prints what a scan fetched: the page's URL, status and type,
// how it was captured, and its exchanges one a line.
func (a *app) printPage(p *shopwatch.Page) {
	how := "static"
	switch {
	case p.Rendered && p.Mobile:
		how = "browser, mobile"
	case p.Rendered:
		how = "browser"
	}
	fmt.Fprintf(a.stdout, "%s → %s\n  status %d, %s, %s (%s)\n", p.URL, p.FinalURL, p.Status, p.ContentType, p.Charset, how)
	if p.Title != "" {
		fmt.Fprintf(a.stdout, "  title %s\n", p.Title)
	}
	if p.Rendered {
		fmt.Fprintf(a.stdout, "  screenshot %d bytes, MHTML %d bytes\n", len(p.Screenshot), len(p.MHTML))
	}
	if len(p.Timeline) > 0 || len(p.Snapshots) > 0 {
		fmt.Fprintf(a.stdout, "  watched: %d texts on screen, %d timed screenshots\n", len(p.Timeline), len(p.Snapshots))
	}
	fmt.Fprintf(a.stdout, "  %d exchanges\n", len(p.Exchanges))
	for _, x := range p.Exchanges {
		line := fmt.Sprintf("    %s %s %d %d bytes", x.Method, x.URL, x.Status, len(x.Body))
		if x.BodyTruncated {
			line += " (cut)"
		}
		if x.BodyMissing {
			line += " (body not kept by the browser)"
		}
		if x.RemoteAddr != "" {
			line += " from " + x.RemoteAddr
		}
		if x.Err != "" {
			line += " error: " + x.Err
		}
		fmt.Fprintln(a.stdout, line)
	}
}

func (a *app) printFindings(fnd []shopwatch.Finding, asJSON bool) error {
	if asJSON {
		if fnd == nil {
			fnd = []shopwatch.Finding{}
		}
		return a.printJSON(fnd)
	}
	tw := newTable(a.stdout)
	if len(fnd) > 0 {
		fmt.Fprintln(tw, "SEVERITY\tRULE\tMATCH\tLAW\tURL")
	}
	for _, x := range fnd {
		m := x.Match
		if m == "" {
			m = "(absent)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", x.Severity, x.Rule, cell(m), cell(strings.TrimSpace(x.Law+" "+x.Article)), x.URL)
		if !x.SeenFrom.IsZero() {
			loc := a.location()
			fmt.Fprintf(tw, "          on screen %s – %s (%s)\n", x.SeenFrom.In(loc).Format("15:04:05.000"), x.SeenUntil.In(loc).Format("15:04:05.000"), loc)
		}
		if x.Snippet != "" {
			fmt.Fprintf(tw, "          …%s…\n", strings.ReplaceAll(x.Snippet, "\n", " "))
		}
	}
	fmt.Fprintf(tw, "%d findings\n", len(fnd))
	return tw.Flush()
}
