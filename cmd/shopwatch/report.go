package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server"
	ledger "shopwatch/server/report"
)

func init() {
	register(command{name: "report", summary: "the findings ledger (台账, XLSX or CSV) and statistics per jurisdiction, platform, category or rule", run: runReport})
	verbSummaries["report ledger"] = "write the findings ledger (台账): -o FILE.xlsx or FILE.csv"
	verbSummaries["report stats"] = "statistics: findings, reviews, leads, cases and the closed-loop rate (闭环处置率) per group"
}

func runReport(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "report", args, map[string]func(context.Context, *app, []string) error{
		"ledger": reportLedger,
		"stats":  reportStats,
	})
}

// reportScope reads the findings and targets a report covers: seen in
// [since, until], of targets in the jurisdiction (and those below it).
func (a *app) reportScope(ctx context.Context, since, until, jurisdiction string) ([]shopwatch.Finding, map[string]shopwatch.Target, error) {
	now := time.Now()
	var f db.Filter
	var err error
	if since != "" {
		if f.Since, err = parseWhen(since, now, false); err != nil {
			return nil, nil, usagef("--since: %v", err)
		}
	}
	if until != "" {
		if f.Until, err = parseWhen(until, now, true); err != nil {
			return nil, nil, usagef("--until: %v", err)
		}
	}
	w, err := a.workspace(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	ts, err := w.ListTargets(ctx, server.TargetQuery{})
	if err != nil {
		return nil, nil, err
	}
	targets := make(map[string]shopwatch.Target, len(ts))
	ids := []string{}
	for _, t := range ts {
		targets[t.ID] = t
		if db.InJurisdiction(t.Jurisdiction, jurisdiction) {
			ids = append(ids, t.ID)
		}
	}
	if jurisdiction != "" {
		f.Targets = ids
	}
	fs, err := w.ListFindings(ctx, f)
	if err != nil {
		return nil, nil, err
	}
	return fs, targets, nil
}

func reportLedger(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("report ledger", "report ledger -o FILE.xlsx|FILE.csv [--since WHEN] [--until WHEN] [--jurisdiction J]")
	out := fs.String("o", "", "the file to write: .xlsx or .csv (UTF-8 with a byte-order mark, for Excel)")
	since := fs.String("since", "", "findings last seen at or after WHEN (7d, 2026-11-01, RFC 3339)")
	until := fs.String("until", "", "findings first seen at or before WHEN")
	jur := fs.String("jurisdiction", "", "only targets of this jurisdiction and those below it")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	ext := strings.ToLower(filepath.Ext(*out))
	if *out == "" || ext != ".xlsx" && ext != ".csv" {
		return usagef("report ledger needs -o FILE.xlsx or -o FILE.csv")
	}
	findings, targets, err := a.reportScope(ctx, *since, *until, *jur)
	if err != nil {
		return err
	}
	rows := ledger.Rows(findings, targets)
	tmp := *out + ".part"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if ext == ".csv" {
		err = ledger.WriteCSV(f, rows, a.location())
	} else {
		err = ledger.WriteXLSX(f, rows, a.location())
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("report ledger: %w", err)
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "%s: %d findings\n", *out, len(rows))
	return nil
}

func reportStats(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("report stats", "report stats [--by jurisdiction|platform|category|rule] [--since WHEN] [--until WHEN] [--jurisdiction J] [--json]")
	by := fs.String("by", "", "group by "+strings.Join(ledger.Groupings, ", ")+" (default: one line for all)")
	since := fs.String("since", "", "findings last seen at or after WHEN")
	until := fs.String("until", "", "findings first seen at or before WHEN")
	jur := fs.String("jurisdiction", "", "only targets of this jurisdiction and those below it")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	findings, targets, err := a.reportScope(ctx, *since, *until, *jur)
	if err != nil {
		return err
	}
	st, err := ledger.Summarise(findings, targets, *by)
	if err != nil {
		return usagef("--by: %v", err)
	}
	if *asJSON {
		return a.printJSON(st)
	}
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "GROUP\tTARGETS\tFINDINGS\tVIOLATIONS\tREVIEWS\tFIXED\tCONFIRMED\tDISMISSED\tLEADS\tCASES\tNOT FILED\tFIRST OFFENCE\tRECTIFICATION\tCLOSED\tCLOSED-LOOP")
	for _, s := range st {
		loop := "-"
		if s.Leads > 0 {
			loop = fmt.Sprintf("%.1f%%", 100*s.ClosedLoop)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Group, s.Targets, s.Findings, s.Violations, s.Reviews, s.Fixed,
			s.Confirmed, s.Dismissed, s.Leads, s.Cases, s.NotFiled, s.FirstOffence, s.Rectification, s.Closed, loop)
	}
	return tw.Flush()
}
