package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server"
	"shopwatch/sweep/schedule"
)

func init() {
	register(command{name: "target", summary: "add, import and list targets (storefronts, products, livestream rooms)", run: runTarget})
	verbSummaries["target add"] = "add one target by URL"
	verbSummaries["target import"] = "add targets from a CSV file"
	verbSummaries["target list"] = "list targets with schedule, last sweep and failures"
	verbSummaries["target show"] = "show one target and what its last sweep found"
	verbSummaries["target edit"] = "change a target's settings (only the flags given)"
	verbSummaries["target pause"] = "leave targets out of sweeps until resumed"
	verbSummaries["target resume"] = "put paused targets back into sweeps"
	verbSummaries["target remove"] = "remove targets; their findings and evidence are kept"
}

func runTarget(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "target", args, map[string]func(context.Context, *app, []string) error{
		"add":    targetAdd,
		"import": targetImport,
		"list":   targetList,
		"show":   targetShow,
		"edit":   targetEdit,
		"pause":  func(ctx context.Context, a *app, args []string) error { return targetPause(ctx, a, args, true) },
		"resume": func(ctx context.Context, a *app, args []string) error { return targetPause(ctx, a, args, false) },
		"remove": targetRemove,
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
	depth := fs.Int("depth", -1, fmt.Sprintf("link levels to follow on the same host, at most %d (default 1 for storefronts, else 0)", db.MaxDepth))
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
	url, err := a.checkTargetURL(pos[0])
	if err != nil {
		return err
	}
	t := shopwatch.Target{URL: url, Kind: k, Platform: *platform, Category: *category, Tags: splitTags(*tags),
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
	w, err := a.workspace(ctx, false)
	if err != nil {
		return err
	}
	if err := w.AddTarget(ctx, &t); err != nil {
		return targetInputError(err)
	}
	fmt.Fprintln(a.stdout, t.ID)
	return nil
}

// targetInputError makes a target the database refuses (a bad URL, port or
// depth, a duplicate) a usage error.
func targetInputError(err error) error {
	if errors.Is(err, db.ErrInvalid) || errors.Is(err, db.ErrTargetExists) {
		return usagef("%v", err)
	}
	return err
}

// checkTargetURL returns raw without a user name or password, saying so on
// standard error: credentials are never stored, logged or audited.
func (a *app) checkTargetURL(raw string) (string, error) {
	if !db.HasCredentials(raw) {
		return raw, nil
	}
	clean := db.StripCredentials(raw)
	fmt.Fprintf(a.stderr, "warning: removed the user name and password from the URL; the target is %s (credentials are never stored)\n", clean)
	return clean, nil
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
func (a *app) resolveTarget(ctx context.Context, w workspace, ref string) (string, error) {
	if ref == "" {
		return "", nil
	}
	t, err := w.FindTarget(ctx, ref)
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

// targetRow is a target with what its last sweep found, as target list
// and target show print it.
type targetRow struct {
	shopwatch.Target
	LastVisit *db.TargetStatus `json:"last_visit,omitempty"`
}

func loadTargetRows(ctx context.Context, w workspace, ts []shopwatch.Target) ([]targetRow, error) {
	st, err := w.TargetStatuses(ctx)
	if err != nil {
		return nil, err
	}
	rows := make([]targetRow, len(ts))
	for i, t := range ts {
		rows[i].Target = t
		if s, ok := st[t.ID]; ok {
			rows[i].LastVisit = &s
		}
	}
	return rows, nil
}

func targetList(ctx context.Context, a *app, args []string) error {
	var q server.TargetQuery
	return listing(a, "target list", args,
		func(fs *flag.FlagSet) {
			fs.StringVar(&q.Platform, "platform", "", "only targets of this platform")
			fs.StringVar(&q.Jurisdiction, "jurisdiction", "", "only targets of this jurisdiction and those below it (上海市 takes in 上海市/杨浦区)")
			fs.StringVar(&q.Tag, "tag", "", "only targets with this tag")
			fs.StringVar(&q.Category, "category", "", "only targets of this category")
			fs.StringVar(&q.State, "state", "", "only active or only paused targets")
		},
		func() (workspace, error) {
			if q.State != "" && q.State != "active" && q.State != "paused" {
				return nil, usagef("--state %q: want active or paused", q.State)
			}
			return a.workspace(ctx, true)
		},
		func(w workspace) ([]targetRow, error) {
			ts, err := w.ListTargets(ctx, q)
			if err != nil {
				return nil, err
			}
			return loadTargetRows(ctx, w, ts)
		},
		func(w io.Writer, rows []targetRow) {
			fmt.Fprintf(w, "ID\tSTATE\tKIND\tPLATFORM\tJURISDICTION\tCATEGORY\tSCHEDULE\t%s\tLAST STATUS\tFAILED\tURL\n", a.timeHeader("LAST SWEPT"))
			for _, r := range rows {
				state := "active"
				if r.Paused {
					state = "paused"
				}
				last, failed := "-", "-"
				if lv := r.LastVisit; lv != nil {
					last = string(lv.State)
					failed = fmt.Sprintf("%d/%d", lv.Failed, lv.Pages)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, state, r.Kind, cell(r.Platform), cell(r.Jurisdiction),
					cell(r.Category), scheduleText(r.Schedule), a.localTime(r.LastSwept), last, failed, r.URL)
			}
		})
}

func scheduleText(s string) string {
	if s == "" {
		return "(default)"
	}
	return s
}

// targetShow prints one target, by id or URL, with what its last sweep
// found.
func targetShow(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("target show", "target show ID|URL [--json]")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	w, err := a.workspace(ctx, true)
	if err != nil {
		return err
	}
	t, err := w.FindTarget(ctx, pos[0])
	if errors.Is(err, db.ErrNotFound) {
		return usagef("unknown target %q (see shopwatch target list)", pos[0])
	}
	if err != nil {
		return err
	}
	rows, err := loadTargetRows(ctx, w, []shopwatch.Target{*t})
	if err != nil {
		return err
	}
	r := rows[0]
	if *asJSON {
		return a.printJSON(r)
	}
	tw := newTable(a.stdout)
	field := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, cell(v)) }
	state := "active"
	if r.Paused {
		state = "paused: sweeps leave it out (target resume " + r.ID + ")"
	}
	field("id", r.ID)
	field("url", r.URL)
	field("state", state)
	field("kind", string(r.Kind))
	field("platform", r.Platform)
	field("category", r.Category)
	field("tags", strings.Join(r.Tags, ", "))
	field("jurisdiction", r.Jurisdiction)
	field("priority", strconv.Itoa(r.Priority))
	field("schedule", scheduleText(r.Schedule))
	field("depth", strconv.Itoa(r.Depth))
	how := "static (browser when a page needs scripts)"
	switch {
	case r.Mobile:
		how = "browser, as a phone"
	case r.Browser:
		how = "browser"
	}
	field("rendering", how)
	field("added", a.localTime(r.Added)+" "+a.location().String())
	field("last swept", a.localTime(r.LastSwept))
	if lv := r.LastVisit; lv != nil {
		field("last sweep", lv.Sweep)
		status := string(lv.State)
		if lv.Error != "" {
			status += ": " + lv.Error
		}
		field("last status", status)
		field("pages failed", fmt.Sprintf("%d of %d", lv.Failed, lv.Pages))
	}
	return tw.Flush()
}

// targetEdit changes the settings of one target that the flags name; the
// others stay as they are. The change is checked as target add checks a
// new target and recorded in the audit log.
func targetEdit(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("target edit", "target edit ID|URL [--kind K] [--platform P] [--category C] [--tags T] [--jurisdiction J] [--priority N] [--schedule CRON] [--depth N] [--browser=BOOL] [--mobile=BOOL]")
	kind := fs.String("kind", "", "storefront, product or livestream")
	platform := fs.String("platform", "", "marketplace platform")
	category := fs.String("category", "", "product category; \"\" clears it (detected from each page)")
	tags := fs.String("tags", "", "comma-separated tags (replace the old ones)")
	jur := fs.String("jurisdiction", "", "jurisdiction (administrative area)")
	prio := fs.Int("priority", 0, "priority; higher is visited first")
	sched := fs.String("schedule", "", "cron expression; \"\" for the default")
	depth := fs.Int("depth", 0, fmt.Sprintf("link levels to follow on the same host, at most %d", db.MaxDepth))
	browser := fs.Bool("browser", false, "render with the browser")
	mobile := fs.Bool("mobile", false, "render as a phone (H5 page); implies --browser")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	n := 0
	for name := range set {
		if !globalFlags[name] {
			n++
		}
	}
	if n == 0 {
		return usagef("target edit: nothing to change; give the settings to change as flags\nusage: shopwatch target edit ID|URL [flags]")
	}
	var k shopwatch.Kind
	if set["kind"] {
		if k, err = shopwatch.ParseKind(*kind); err != nil {
			return usagef("%v", err)
		}
	}
	if set["category"] {
		c := shopwatch.Target{Category: *category}
		if err := a.checkTargetCategory(&c); err != nil {
			return err
		}
		*category = c.Category
	}
	var p db.TargetPatch
	if set["kind"] {
		p.Kind = &k
	}
	if set["platform"] {
		p.Platform = platform
	}
	if set["category"] {
		p.Category = category
	}
	if set["tags"] {
		ts := splitTags(*tags)
		if ts == nil {
			ts = []string{}
		}
		p.Tags = &ts
	}
	if set["jurisdiction"] {
		p.Jurisdiction = jur
	}
	if set["priority"] {
		p.Priority = prio
	}
	if set["schedule"] {
		p.Schedule = sched
	}
	if set["depth"] {
		p.Depth = depth
	}
	if set["browser"] {
		p.Browser = browser
	}
	if set["mobile"] {
		p.Mobile = mobile
	}
	w, err := a.workspace(ctx, false)
	if err != nil {
		return err
	}
	id, err := a.resolveTarget(ctx, w, pos[0])
	if err != nil {
		return err
	}
	t, err := w.EditTarget(ctx, id, "target.edited", p)
	if err != nil {
		return targetInputError(err)
	}
	fmt.Fprintf(a.stdout, "%s updated\n", t.ID)
	return nil
}

// targetPause pauses (or resumes) the targets named by id or URL.
func targetPause(ctx context.Context, a *app, args []string, pause bool) error {
	verb, action := "pause", "target.paused"
	if !pause {
		verb, action = "resume", "target.resumed"
	}
	fs := a.newFlags("target "+verb, "target "+verb+" ID|URL…")
	pos, err := parseArgs(fs, args, 1, -1)
	if err != nil {
		return err
	}
	w, err := a.workspace(ctx, false)
	if err != nil {
		return err
	}
	ids := make([]string, len(pos))
	for i, ref := range pos {
		if ids[i], err = a.resolveTarget(ctx, w, ref); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if _, err := w.EditTarget(ctx, id, action, db.TargetPatch{Paused: &pause}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s %sd\n", id, verb)
	}
	return nil
}

// targetRemove removes the targets named by id or URL. Their findings and
// evidence stay, and the audit log records the removal.
func targetRemove(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("target remove", "target remove ID|URL…")
	pos, err := parseArgs(fs, args, 1, -1)
	if err != nil {
		return err
	}
	w, err := a.workspace(ctx, false)
	if err != nil {
		return err
	}
	ids := make([]string, len(pos))
	for i, ref := range pos {
		if ids[i], err = a.resolveTarget(ctx, w, ref); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if err := w.DeleteTarget(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%s removed (its findings and evidence are kept)\n", id)
	}
	return nil
}
