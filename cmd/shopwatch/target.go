package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/sweep/schedule"
)

func init() {
	register(command{name: "target", summary: "add, import and list targets (storefronts, products, livestream rooms)", run: runTarget})
}

func runTarget(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "target", args, map[string]func(context.Context, *app, []string) error{
		"add":    targetAdd,
		"import": targetImport,
		"list":   targetList,
	})
}

func targetAdd(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("target add", "target add URL [flags]")
	kind := fs.String("kind", "storefront", "storefront, product or livestream")
	platform := fs.String("platform", "", "marketplace platform")
	category := fs.String("category", "", "product category (food, cosmetics, apparel, electronics …)")
	tags := fs.String("tags", "", "comma-separated tags")
	jur := fs.String("jurisdiction", "", "jurisdiction (administrative area)")
	prio := fs.Int("priority", 0, "priority; higher is visited first")
	sched := fs.String("schedule", "", "cron expression")
	depth := fs.Int("depth", -1, "link levels to follow on the same host (default 1 for storefronts, else 0)")
	browser := fs.Bool("browser", false, "render with the browser")
	mobile := fs.Bool("mobile", false, "render as a phone (H5 page); implies --browser")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("target add needs exactly one URL")
	}
	k, err := shopwatch.ParseKind(*kind)
	if err != nil {
		return usagef("%v", err)
	}
	t := shopwatch.Target{URL: pos[0], Kind: k, Platform: *platform, Category: *category, Tags: splitTags(*tags),
		Jurisdiction: *jur, Priority: *prio, Schedule: *sched, Depth: *depth, Browser: *browser || *mobile, Mobile: *mobile}
	if t.Depth < 0 {
		t.Depth = defaultDepth(k)
	}
	if err := schedule.Validate(t); err != nil {
		return usagef("%v", err)
	}
	d, err := a.openDB()
	if err != nil {
		return err
	}
	if err := d.AddTarget(ctx, &t); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, t.ID)
	return nil
}

func defaultDepth(k shopwatch.Kind) int {
	if k == shopwatch.KindStorefront {
		return 1
	}
	return 0
}

func splitTags(s string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' || r == '|' }) {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func targetList(ctx context.Context, a *app, args []string) error {
	return listing(a, "target list", args, nil,
		func(d *db.DB) ([]shopwatch.Target, error) { return d.ListTargets(ctx) },
		func(w io.Writer, ts []shopwatch.Target) {
			fmt.Fprintln(w, "ID\tKIND\tCATEGORY\tPRIORITY\tDEPTH\tURL")
			for _, t := range ts {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\n", t.ID, t.Kind, t.Category, t.Priority, t.Depth, t.URL)
			}
		})
}
