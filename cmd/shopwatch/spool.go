package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"shopwatch/evidence"
	"shopwatch/evidence/spool"
)

func init() {
	register(command{name: "spool", summary: "evidence waiting in the local spool for MinIO: status, drain", run: runSpool})
}

func runSpool(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "spool", args, map[string]func(context.Context, *app, []string) error{
		"status": spoolStatus,
		"drain":  spoolDrain,
	})
}

// spoolDir is store.spool.dir, else <data>/spool.
func (a *app) spoolDir() (string, error) {
	c, err := a.config()
	if err != nil {
		return "", err
	}
	if c.Store.Spool.Dir != "" {
		return c.Store.Spool.Dir, nil
	}
	d, err := a.dataDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "spool"), nil
}

// spoolInUse reports whether the configured store puts a spool in front of
// MinIO, and if not, why.
func (a *app) spoolInUse() (bool, string, error) {
	c, err := a.config()
	if err != nil {
		return false, "", err
	}
	switch {
	case c.Store.Kind != "minio":
		return false, fmt.Sprintf("store.kind is %q; the spool sits in front of MinIO only", c.Store.Kind), nil
	case !c.Store.Spool.Enabled:
		return false, "store.spool.enabled is false", nil
	}
	return true, "", nil
}

// spoolReport is what `spool status --json` prints.
type spoolReport struct {
	Dir              string        `json:"dir"`
	InUse            bool          `json:"in_use"` // the configured store writes through this spool
	Objects          int           `json:"objects"`
	Captures         int           `json:"captures"`
	Bytes            int64         `json:"bytes"`
	Oldest           *time.Time    `json:"oldest"`
	OldestAgeSeconds float64       `json:"oldest_age_seconds"`
	Stuck            []stuckReport `json:"stuck"` // kept and never uploaded
	BackendDown      bool          `json:"backend_down"`
	DownSince        *time.Time    `json:"down_since"`
	Failures         int           `json:"failures"`
	LastError        string        `json:"last_error"`
	LastErrorAt      *time.Time    `json:"last_error_at"`
}

type stuckReport struct {
	Key   string `json:"key"`
	File  string `json:"file"`
	Error string `json:"error"`
}

func newSpoolReport(st spool.Status, inUse bool) spoolReport {
	r := spoolReport{Dir: st.Dir, InUse: inUse, Objects: st.Objects, Captures: spooledCaptures(st.Entries), Bytes: st.Bytes,
		Oldest: spoolLocal(st.Oldest), BackendDown: st.BackendDown, DownSince: spoolLocal(st.DownSince),
		Failures: st.Failures, LastError: st.LastError, LastErrorAt: spoolLocal(st.LastErrorAt), Stuck: []stuckReport{}}
	if !st.Oldest.IsZero() {
		r.OldestAgeSeconds = time.Since(st.Oldest).Round(time.Second).Seconds()
	}
	for _, e := range st.Entries {
		if errors.Is(e.Err, spool.ErrDamaged) || errors.Is(e.Err, spool.ErrConflict) {
			r.Stuck = append(r.Stuck, stuckReport{Key: e.Key, File: e.Path, Error: e.Err.Error()})
		}
	}
	return r
}

func spoolLocal(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	l := t.Local()
	return &l
}

// spooledCaptures counts the captures the spooled objects belong to (an
// evidence key is evidence/<capture id>/<artifact>); any other key counts
// as one.
func spooledCaptures(es []spool.Entry) int {
	seen := map[string]bool{}
	for _, e := range es {
		id := e.Key
		if rest, ok := strings.CutPrefix(e.Key, evidence.KeyPrefix); ok {
			id, _, _ = strings.Cut(rest, "/")
		}
		if id != "" {
			seen[id] = true
		}
	}
	return len(seen)
}

func spoolStatus(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("spool status", "spool status [--json]")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("spool status takes no arguments, got %q", pos)
	}
	inUse, why, err := a.spoolInUse()
	if err != nil {
		return err
	}
	dir, err := a.spoolDir()
	if err != nil {
		return err
	}
	// Read-only and without the folder's lock: works while a sweep or
	// serve holds the spool.
	st, err := spool.Inspect(dir)
	if err != nil {
		return err
	}
	r := newSpoolReport(st, inUse)
	if *asJSON {
		return a.printJSON(r)
	}
	w := a.stdout
	if !inUse {
		fmt.Fprintf(w, "spool not in use: %s\n", why)
	}
	if r.Objects == 0 {
		fmt.Fprintf(w, "spool %s: empty\n", r.Dir)
	} else {
		fmt.Fprintf(w, "spool %s: %d objects of %d captures (%s) not yet in MinIO\n", r.Dir, r.Objects, r.Captures, spoolBytes(r.Bytes))
		fmt.Fprintf(w, "  oldest spooled  %s (%s ago)\n", spoolTime(st.Oldest), time.Since(st.Oldest).Round(time.Second))
	}
	if st.BackendDown {
		fmt.Fprintf(w, "  MinIO           unavailable when last tried (since %s, %d failed requests)\n", spoolTime(st.DownSince), st.Failures)
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "  last error      %s: %s\n", spoolTime(st.LastErrorAt), st.LastError)
	}
	for _, s := range r.Stuck {
		fmt.Fprintf(w, "  kept, never uploaded: %s (%s): %s\n", s.Key, s.File, s.Error)
	}
	return nil
}

func spoolDrain(ctx context.Context, a *app, args []string) error {
	c, err := a.config()
	if err != nil {
		return err
	}
	fs := a.newFlags("spool drain", "spool drain [--timeout 1m]")
	timeout := fs.Duration("timeout", c.Store.Spool.DrainTimeout, "how long to wait for MinIO (0s: one attempt; default store.spool.drain_timeout)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("spool drain takes no arguments, got %q", pos)
	}
	if *timeout < 0 {
		return usagef("--timeout must not be negative")
	}
	inUse, why, err := a.spoolInUse()
	if err != nil {
		return err
	}
	if !inUse {
		return fmt.Errorf("nothing to drain into: %s", why)
	}
	if _, err := a.store(ctx); err != nil {
		return err
	}
	sp := a.spool
	a.spoolDrained = true
	before, err := sp.Status()
	if err != nil {
		return err
	}
	var derr error
	if before.Objects > 0 {
		if *timeout > 0 {
			dctx, cancel := context.WithTimeout(ctx, *timeout)
			derr = sp.Drain(dctx)
			cancel()
		} else {
			derr = sp.Flush(ctx)
		}
	}
	st, err := sp.Status()
	if err != nil {
		return err
	}
	if up := before.Objects - st.Objects; up > 0 {
		fmt.Fprintf(a.stdout, "uploaded %d spooled objects to MinIO\n", up)
	}
	if st.Objects == 0 {
		fmt.Fprintf(a.stdout, "spool %s: empty\n", st.Dir)
		return nil
	}
	msg := spoolLeftMessage(st)
	if errors.Is(derr, context.DeadlineExceeded) && ctx.Err() == nil {
		msg = fmt.Sprintf("not done within --timeout %s; %s", *timeout, msg)
	}
	return &errExit{code: exitSpooled, err: errors.New(msg)}
}

// drainAfterSweep waits up to store.spool.drain_timeout for the spool to
// upload what is in it, then says plainly what is still only on local
// disk. It returns err, the sweep's own result, when that is not nil
// (printing the spool's message beside it); otherwise an exitSpooled error
// when anything is left, else nil.
func (a *app) drainAfterSweep(ctx context.Context, err error) error {
	sp := a.spool
	if sp == nil {
		return err
	}
	a.spoolDrained = true
	c, cerr := a.config()
	if cerr != nil {
		return errors.Join(err, cerr)
	}
	st, serr := sp.Status()
	if serr == nil && st.Objects > st.Stuck && ctx.Err() == nil && c.Store.Spool.DrainTimeout > 0 {
		fmt.Fprintf(a.stderr, "waiting up to %s for %d spooled objects to upload to MinIO\n", c.Store.Spool.DrainTimeout, st.Objects)
		dctx, cancel := context.WithTimeout(ctx, c.Store.Spool.DrainTimeout)
		_ = sp.Drain(dctx) // what is left is reported below
		cancel()
		st, serr = sp.Status()
	}
	if serr != nil {
		return errors.Join(err, serr)
	}
	if st.Objects == 0 {
		return err
	}
	msg := spoolLeftMessage(st)
	if err != nil {
		fmt.Fprintf(a.stderr, "shopwatch sweep: %s\n", msg)
		return err
	}
	return &errExit{code: exitSpooled, err: errors.New(msg)}
}

// spoolLeftMessage says what is left in the spool and what to do.
func spoolLeftMessage(st spool.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "evidence not in MinIO: %d objects of %d captures (%s) are only in the local spool %s",
		st.Objects, spooledCaptures(st.Entries), spoolBytes(st.Bytes), st.Dir)
	if st.BackendDown {
		fmt.Fprintf(&b, "\n  MinIO unavailable since %s", spoolTime(st.DownSince))
	}
	if st.LastError != "" {
		fmt.Fprintf(&b, "\n  last error: %s", st.LastError)
	}
	if st.Stuck > 0 {
		fmt.Fprintf(&b, "\n  %d of them damaged or conflicting: kept and never uploaded (`shopwatch spool status` names them)", st.Stuck)
	}
	b.WriteString("\n  they upload once MinIO answers: `shopwatch spool drain` now, `shopwatch serve` continuously; `shopwatch spool status` shows them")
	return b.String()
}

func spoolTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 -07:00")
}

func spoolBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
