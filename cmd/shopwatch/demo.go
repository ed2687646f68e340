package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/marketsim"
)

func init() {
	register(command{name: "demo", summary: "sweep the built-in test marketplace end to end and verify a bundle", run: runDemo})
}

// runDemo starts the test marketplace on loopback, queues its targets into a
// fresh data directory, sweeps them, scores the findings against the
// marketplace's ground truth, exports one evidence bundle and verifies it.
func runDemo(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("demo", "demo [--shops N] [--seed S] [--workers N]")
	shops := fs.Int("shops", 60, "number of shops in the test marketplace")
	seed := fs.Int64("seed", 1, "marketplace seed")
	workers := fs.Int("workers", 8, "concurrent visits")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	started := time.Now()
	root := a.dataFlag
	if root == "" {
		root = "shopwatch-demo"
	}
	dir := filepath.Join(root, "run-"+started.UTC().Format("20060102T150405Z"))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	a.dataFlag = dir
	a.allowLoopback = true // the demo's marketplace runs on 127.0.0.1
	out := a.stdout
	fmt.Fprintf(out, "demo data directory: %s\n", dir)

	m := marketsim.New(marketsim.Config{Seed: *seed, Shops: *shops})
	mctx, stopMarket := context.WithCancel(ctx)
	defer stopMarket()
	base, _, err := marketsim.ListenAndServe(mctx, "127.0.0.1:0", m)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "test marketplace: %d shops, %d pages at %s\n", *shops, m.Pages(), base)

	d, err := a.openDB()
	if err != nil {
		return err
	}
	var targets []shopwatch.Target
	if err := m.Targets(base, func(t shopwatch.Target) error {
		if err := d.AddTarget(ctx, &t); err != nil {
			return err
		}
		targets = append(targets, t)
		return nil
	}); err != nil {
		return fmt.Errorf("demo: queue targets: %w", err)
	}
	fmt.Fprintf(out, "queued %d targets\n", len(targets))

	r, err := a.runner(ctx, d)
	if err != nil {
		return err
	}
	r.Config.Workers = *workers
	sweepID, err := d.CreateSweep(ctx, "demo")
	if err != nil {
		return err
	}
	if _, err := r.Plan(ctx, sweepID, targets); err != nil {
		return err
	}
	if err := a.checkEnvironment(ctx, r, targets); err != nil {
		return err
	}
	r.Config.Progress = progressLines(a.stderr)
	sum, err := r.Run(ctx, sweepID)
	if err != nil {
		return err
	}
	printSummary(out, sum)

	found, err := d.ListFindings(ctx, db.Filter{Sweep: sweepID})
	if err != nil {
		return err
	}
	score, err := marketsim.Compare(m, base, found)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "against ground truth: %d expected, %d found, %d missed, %d unexpected (recall %.1f%%, precision %.1f%%)\n",
		score.Expected, score.Matched, len(score.Missed), len(score.Unexpected), 100*score.Recall(), 100*score.Precision())
	for _, x := range score.Missed[:min(5, len(score.Missed))] {
		fmt.Fprintf(out, "  missed: %s %s %q\n", x.URL, x.Rule, x.Match)
	}
	for _, x := range score.Unexpected[:min(5, len(score.Unexpected))] {
		fmt.Fprintf(out, "  unexpected: %s %s %q\n", x.URL, x.Rule, x.Match)
	}

	recs, err := d.ListEvidence(ctx)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("demo: the sweep wrote no evidence")
	}
	// Export the record with the most findings: the most interesting case.
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Findings > recs[j].Findings })
	rec := recs[0]
	st, err := a.store(ctx)
	if err != nil {
		return err
	}
	bundle := filepath.Join(dir, rec.ID+".zip")
	nt, err := a.notary()
	if err != nil {
		return err
	}
	sg, err := a.signer()
	if err != nil {
		return err
	}
	x := &evidence.Exporter{Notary: nt, Signer: sg}
	if x.TrustedTSARoots, err = a.trustedTSARoots(); err != nil {
		return err
	}
	// report.pdf when Chromium is there (make setup-chromium); the demo
	// needs nothing installed, so without it the bundle leaves the PDF out.
	if p, perr := a.pdfPrinter(); perr == nil {
		x.PDF = p
	} else {
		fmt.Fprintf(out, "report.pdf left out: %v\n", perr)
	}
	if err := exportBundleWith(ctx, st, &rec, bundle, x); err != nil {
		return err
	}
	fmt.Fprintf(out, "exported bundle %s (%d findings, %s)\n", bundle, rec.Findings, rec.URL)
	rep, err := evidence.VerifyBundle(bundle)
	if err != nil {
		return err
	}
	rep.WriteText(out)
	if !rep.OK() {
		return &errExit{code: exitFailed, err: fmt.Errorf("demo: bundle %s failed verification", bundle)}
	}
	if len(score.Missed) > 0 || len(score.Unexpected) > 0 {
		return &errExit{code: exitFailed, err: fmt.Errorf("demo: findings differ from the ground truth")}
	}
	fmt.Fprintf(out, "demo finished in %s: bundle verified\n", time.Since(started).Round(time.Millisecond))
	return nil
}
