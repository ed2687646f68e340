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

// targetImport reads a CSV with a header row naming its columns: url (required),
// platform, kind, category, tags, jurisdiction, priority, depth, schedule, browser,
// mobile (true renders as a phone and implies browser).
func targetImport(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("target import", "target import FILE.csv|-")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("target import needs one CSV file (or - for standard input)")
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
