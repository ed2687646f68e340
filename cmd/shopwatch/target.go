package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/sweep/schedule"
)

func init() {
	register(command{name: "target", summary: "add, import and list targets (storefronts, products, livestream rooms)", run: runTarget})
	verbSummaries["target add"] = "add one target by URL"
	verbSummaries["target import"] = "add targets from a CSV file"
	verbSummaries["target list"] = "list targets with schedule, last sweep and failures"
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
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
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
	if err := a.checkTargetCategory(&t); err != nil {
		return err
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

// checkTargetCategory puts t's category in its normal form, or refuses an
// unknown one naming it.
func (a *app) checkTargetCategory(t *shopwatch.Target) error {
	if t.Category == "" {
		return nil
	}
	rs, err := a.ruleset()
	if err != nil {
		return err
	}
	t.Category, err = checkCategory(rs, t.Category)
	return err
}

// resolveTarget returns the id of the target ref names (an id or a URL),
// "" for an empty ref; an unknown target is a usage error naming it.
func (a *app) resolveTarget(ctx context.Context, d *db.DB, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	t, err := d.FindTarget(ctx, ref)
	if errors.Is(err, db.ErrNotFound) {
		return "", usagef("unknown target %q (see shopwatch target list)", ref)
	}
	if err != nil {
		return "", err
	}
	return t.ID, nil
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

// targetImport reads a CSV with a header row naming its columns: url (required),
// platform, kind, category, tags, jurisdiction, priority, depth, schedule, browser,
// mobile (true renders as a phone and implies browser).
func targetImport(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("target import", "target import FILE.csv|-")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	var r io.Reader = stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return fmt.Errorf("open target list: %w", err)
		}
		defer f.Close()
		r = f
	}
	targets, err := readTargetsCSV(r, pos[0])
	if err != nil {
		return err
	}
	for i := range targets {
		if err := a.checkTargetCategory(&targets[i]); err != nil {
			return fmt.Errorf("%s: target %d (%s): %w", pos[0], i+1, targets[i].URL, err)
		}
	}
	d, err := a.openDB()
	if err != nil {
		return err
	}
	added, dup := 0, 0
	for i := range targets {
		err := d.AddTarget(ctx, &targets[i])
		switch {
		case errors.Is(err, db.ErrTargetExists):
			dup++
		case err != nil:
			return fmt.Errorf("%s: target %d (%s): %w", pos[0], i+1, targets[i].URL, err)
		default:
			added++
		}
	}
	fmt.Fprintf(a.stdout, "imported %d targets (%d already present)\n", added, dup)
	return nil
}

func readTargetsCSV(r io.Reader, name string) ([]shopwatch.Target, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: read header: %w", name, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	if _, ok := col["url"]; !ok {
		return nil, fmt.Errorf("%s: header has no url column (got %s)", name, strings.Join(head, ","))
	}
	get := func(rec []string, k string) string {
		if i, ok := col[k]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []shopwatch.Target
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		t := shopwatch.Target{URL: get(rec, "url"), Platform: get(rec, "platform"), Category: get(rec, "category"),
			Tags: splitTags(get(rec, "tags")), Jurisdiction: get(rec, "jurisdiction"), Schedule: get(rec, "schedule")}
		if t.URL == "" {
			return nil, fmt.Errorf("%s:%d: empty url", name, line)
		}
		kind := get(rec, "kind")
		if kind == "" {
			kind = "storefront"
		}
		if t.Kind, err = shopwatch.ParseKind(kind); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if p := get(rec, "priority"); p != "" {
			if t.Priority, err = strconv.Atoi(p); err != nil {
				return nil, fmt.Errorf("%s:%d: priority %q is not a whole number", name, line, p)
			}
		}
		t.Depth = defaultDepth(t.Kind)
		if d := get(rec, "depth"); d != "" {
			if t.Depth, err = strconv.Atoi(d); err != nil || t.Depth < 0 {
				return nil, fmt.Errorf("%s:%d: depth %q is not a whole number ≥ 0", name, line, d)
			}
		}
		if err := schedule.Validate(t); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if b := get(rec, "browser"); b != "" {
			if t.Browser, err = strconv.ParseBool(b); err != nil {
				return nil, fmt.Errorf("%s:%d: browser %q is not true or false", name, line, b)
			}
		}
		if m := get(rec, "mobile"); m != "" {
			if t.Mobile, err = strconv.ParseBool(m); err != nil {
				return nil, fmt.Errorf("%s:%d: mobile %q is not true or false", name, line, m)
			}
			t.Browser = t.Browser || t.Mobile
		}
		out = append(out, t)
	}
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
