package db

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// MaxDepth is the most link levels a target may follow on its host: at 5
// levels a shop of 20 links a page already reaches millions of pages.
const MaxDepth = 5

// SetTrackingParams sets the query parameters that duplicate detection of
// targets ignores (see TargetKey); nil restores DefaultTrackingParams. Set
// it before adding targets.
func (db *DB) SetTrackingParams(params []string) {
	db.tracking = nil
	if params != nil {
		db.tracking = append(make([]string, 0, len(params)), params...)
	}
}

// checkTarget validates the fields of a target that AddTarget and
// UpdateTarget store. Its errors never repeat credentials.
func checkTarget(t *shopwatch.Target) error {
	if HasCredentials(t.URL) {
		return fmt.Errorf("%w: URL %s carries a user name or password; give it without them", ErrInvalid, StripCredentials(t.URL))
	}
	if !validKind(t.Kind) {
		return fmt.Errorf("%w: kind %q (want storefront, product or livestream)", ErrInvalid, t.Kind)
	}
	if t.Depth < 0 {
		return fmt.Errorf("%w: negative depth %d", ErrInvalid, t.Depth)
	}
	if t.Depth > MaxDepth {
		return fmt.Errorf("%w: depth %d is above the maximum of %d", ErrInvalid, t.Depth, MaxDepth)
	}
	return nil
}

// AddTarget stores t. An empty t.ID is filled with "t-" and a short random
// id, a zero t.Added with the current time; t is updated in place once the
// target is stored. The URL must be an absolute http or https URL and the
// kind one of storefront, product or livestream.
//
// A target whose URL has the same key (see TargetKey: normalised, tracking
// parameters dropped) as a stored target's, or whose ID is taken, is
// refused with an error wrapping ErrTargetExists that names the URL and
// the stored target's id. A URL with credentials in it, a port out of range
// or a depth above MaxDepth is ErrInvalid.
func (db *DB) AddTarget(ctx context.Context, t *shopwatch.Target) error {
	if t == nil {
		return fmt.Errorf("add target: %w: nil target", ErrInvalid)
	}
	rec := *t
	rec.URL = strings.TrimSpace(rec.URL)
	if HasCredentials(rec.URL) {
		return fmt.Errorf("add target: %w", checkTarget(&rec))
	}
	norm, err := TargetKey(rec.URL, db.tracking)
	if err != nil {
		return fmt.Errorf("add target %q: %w", t.URL, err)
	}
	if err := checkTarget(&rec); err != nil {
		return fmt.Errorf("add target %s: %w", rec.URL, err)
	}
	if rec.ID != "" {
		if err := validID(rec.ID); err != nil {
			return fmt.Errorf("add target %s: %w: %v", rec.URL, ErrInvalid, err)
		}
	}
	err = db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		urls, targets := x.tx.Bucket(bTargetURLs), x.tx.Bucket(bTargets)
		if id := urls.Get([]byte(norm)); id != nil {
			return fmt.Errorf("%w as %s (%s)", ErrTargetExists, id, norm)
		}
		if rec.ID == "" {
			for rec.ID == "" || targets.Get([]byte(rec.ID)) != nil {
				rec.ID = "t-" + shortID()
			}
		} else if targets.Get([]byte(rec.ID)) != nil {
			return fmt.Errorf("%w: id %s is taken", ErrTargetExists, rec.ID)
		}
		if rec.Added.IsZero() {
			rec.Added = x.now
		}
		rec.Added = rec.Added.UTC().Round(0)
		if err := putJSON(targets, []byte(rec.ID), &rec); err != nil {
			return err
		}
		if err := urls.Put([]byte(norm), []byte(rec.ID)); err != nil {
			return err
		}
		return x.audit("target.added", fmt.Sprintf("target %s %s kind=%s category=%s priority=%d depth=%d",
			rec.ID, rec.URL, rec.Kind, rec.Category, rec.Priority, rec.Depth))
	})
	if err != nil {
		return fmt.Errorf("add target %s: %w", rec.URL, err)
	}
	*t = rec
	return nil
}

// GetTarget returns the target with the given id, or an error wrapping
// ErrNotFound.
func (db *DB) GetTarget(ctx context.Context, id string) (*shopwatch.Target, error) {
	var t shopwatch.Target
	err := db.view(ctx, func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bTargets), []byte(id), &t)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get target %s: %w", id, err)
	}
	return &t, nil
}

// FindTarget returns the target with the given id or whose URL normalises
// (see NormalizeURL) to that of ref, or an error wrapping ErrNotFound that
// names ref.
func (db *DB) FindTarget(ctx context.Context, ref string) (*shopwatch.Target, error) {
	ref = strings.TrimSpace(ref)
	var t shopwatch.Target
	err := db.view(ctx, func(tx *bolt.Tx) error {
		id := []byte(ref)
		if norm, err := TargetKey(ref, db.tracking); err == nil && strings.Contains(ref, "://") {
			id = tx.Bucket(bTargetURLs).Get([]byte(norm))
			if id == nil {
				return ErrNotFound
			}
		}
		ok, err := getJSON(tx.Bucket(bTargets), id, &t)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("target %s: %w", ref, err)
	}
	return &t, nil
}

// ListTargets returns the targets sweeps visit: every target that is not
// paused, highest priority first, then in the order they were added.
func (db *DB) ListTargets(ctx context.Context) ([]shopwatch.Target, error) {
	all, err := db.ListAllTargets(ctx)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, t := range all {
		if !t.Paused {
			out = append(out, t)
		}
	}
	return out, nil
}

// ListAllTargets returns every target, paused ones included, in the order
// of ListTargets.
func (db *DB) ListAllTargets(ctx context.Context) ([]shopwatch.Target, error) {
	var out []shopwatch.Target
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bTargets).ForEach(func(k, v []byte) error {
			var t shopwatch.Target
			if _, err := getJSON(tx.Bucket(bTargets), k, &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list targets: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		if !a.Added.Equal(b.Added) {
			return a.Added.Before(b.Added)
		}
		return a.ID < b.ID
	})
	return out, nil
}

// DeleteTarget removes the target with the given id, or returns an error
// wrapping ErrNotFound. Visits already queued for it, its findings and its
// evidence are left alone; the audit log records the removal.
func (db *DB) DeleteTarget(ctx context.Context, id string) error {
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		targets := x.tx.Bucket(bTargets)
		var t shopwatch.Target
		ok, err := getJSON(targets, []byte(id), &t)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if err := targets.Delete([]byte(id)); err != nil {
			return err
		}
		// Every key that names the target, whatever tracking parameters
		// were configured when it was added.
		urls := x.tx.Bucket(bTargetURLs)
		var keys [][]byte
		if err := urls.ForEach(func(k, v []byte) error {
			if string(v) == id {
				keys = append(keys, append([]byte(nil), k...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			if err := urls.Delete(k); err != nil {
				return err
			}
		}
		return x.audit("target.deleted", fmt.Sprintf("target %s %s kind=%s category=%s (its findings and evidence are kept)", id, t.URL, t.Kind, t.Category))
	})
	if err != nil {
		return fmt.Errorf("delete target %s: %w", id, err)
	}
	return nil
}

// MarkSwept records that a sweep planned the targets ids at time at, the
// "last run" their schedules count from. Unknown ids are ErrNotFound and
// nothing is written.
func (db *DB) MarkSwept(ctx context.Context, ids []string, at time.Time) error {
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		targets := x.tx.Bucket(bTargets)
		for _, id := range ids {
			var t shopwatch.Target
			ok, err := getJSON(targets, []byte(id), &t)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("target %s: %w", id, ErrNotFound)
			}
			t.LastSwept = at.UTC()
			if err := putJSON(targets, []byte(id), &t); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark %d targets swept: %w", len(ids), err)
	}
	return nil
}

// UpdateTarget applies change to the stored target id and stores the
// result, in one transaction, recording action ("target.edited",
// "target.paused" …) and the fields that changed in the audit log. The id,
// URL and time added cannot change; the result is checked as AddTarget
// checks a new target. It returns the stored target.
func (db *DB) UpdateTarget(ctx context.Context, id, action string, change func(*shopwatch.Target) error) (*shopwatch.Target, error) {
	var out shopwatch.Target
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		targets := x.tx.Bucket(bTargets)
		var before shopwatch.Target
		ok, err := getJSON(targets, []byte(id), &before)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		t := before
		t.Tags = append([]string(nil), before.Tags...)
		if err := change(&t); err != nil {
			return err
		}
		t.ID, t.URL, t.Added = before.ID, before.URL, before.Added
		if err := checkTarget(&t); err != nil {
			return err
		}
		if err := putJSON(targets, []byte(id), &t); err != nil {
			return err
		}
		out = t
		return x.audit(action, fmt.Sprintf("target %s %s %s", id, t.URL, targetChanges(before, t)))
	})
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", action, id, err)
	}
	return &out, nil
}

// FieldChange is one setting in which two targets differ, with its value
// in each.
type FieldChange struct{ Field, Old, New string }

// TargetChanges lists the settings in which b differs from a: kind,
// platform, category, tags, jurisdiction, priority, schedule, depth,
// browser, mobile and paused, in that order.
func TargetChanges(a, b shopwatch.Target) []FieldChange {
	var out []FieldChange
	diff := func(name string, x, y any) {
		if xs, ys := fmt.Sprint(x), fmt.Sprint(y); xs != ys {
			out = append(out, FieldChange{name, xs, ys})
		}
	}
	diff("kind", a.Kind, b.Kind)
	diff("platform", a.Platform, b.Platform)
	diff("category", a.Category, b.Category)
	diff("tags", strings.Join(a.Tags, ","), strings.Join(b.Tags, ","))
	diff("jurisdiction", a.Jurisdiction, b.Jurisdiction)
	diff("priority", a.Priority, b.Priority)
	diff("schedule", a.Schedule, b.Schedule)
	diff("depth", a.Depth, b.Depth)
	diff("browser", a.Browser, b.Browser)
	diff("mobile", a.Mobile, b.Mobile)
	diff("paused", a.Paused, b.Paused)
	return out
}

// targetChanges lists the fields that differ between a and b as
// "field=old→new", for the audit log.
func targetChanges(a, b shopwatch.Target) string {
	var out []string
	for _, c := range TargetChanges(a, b) {
		out = append(out, fmt.Sprintf("%s=%s→%s", c.Field, c.Old, c.New))
	}
	if len(out) == 0 {
		return "(no change)"
	}
	return strings.Join(out, " ")
}

// TargetStatus is what the last sweep that visited a target found.
type TargetStatus struct {
	Sweep    string               `json:"sweep"`           // the latest sweep with a visit of the target
	State    shopwatch.VisitState `json:"state"`           // of the visit of the target's own page in that sweep
	Error    string               `json:"error,omitempty"` // its error, when it failed
	Finished time.Time            `json:"finished,omitzero"`
	Pages    int                  `json:"pages"`  // visits of the target in that sweep (its page and pages found from it)
	Failed   int                  `json:"failed"` // of which failed
}

// TargetStatuses returns, by target id, what the latest sweep that
// visited each target found. Targets never visited are absent.
func (db *DB) TargetStatuses(ctx context.Context) (map[string]TargetStatus, error) {
	type agg struct {
		latest time.Time
		st     TargetStatus
	}
	bySweep := map[string]map[string]*agg{} // target → sweep → counts
	err := db.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bVisits).ForEach(func(k, v []byte) error {
			var vis shopwatch.Visit
			if _, err := getJSON(tx.Bucket(bVisits), k, &vis); err != nil {
				return err
			}
			if vis.TargetID == "" {
				return nil
			}
			m := bySweep[vis.TargetID]
			if m == nil {
				m = map[string]*agg{}
				bySweep[vis.TargetID] = m
			}
			a := m[vis.Sweep]
			if a == nil {
				a = &agg{st: TargetStatus{Sweep: vis.Sweep}}
				m[vis.Sweep] = a
			}
			if vis.Enqueued.After(a.latest) {
				a.latest = vis.Enqueued
			}
			a.st.Pages++
			if vis.State == shopwatch.VisitFailed {
				a.st.Failed++
			}
			if vis.Parent == "" {
				a.st.State, a.st.Error, a.st.Finished = vis.State, vis.Error, vis.Finished
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("target statuses: %w", err)
	}
	out := make(map[string]TargetStatus, len(bySweep))
	for id, m := range bySweep {
		var best *agg
		for _, a := range m {
			if best == nil || a.latest.After(best.latest) || (a.latest.Equal(best.latest) && a.st.Sweep > best.st.Sweep) {
				best = a
			}
		}
		out[id] = best.st
	}
	return out, nil
}

// ExistingTarget names a target given to AddTargets whose URL was already
// stored: Index is its place in the slice given, ID the stored target's id
// and URL the normalised URL they share.
type ExistingTarget struct {
	Index int
	ID    string
	URL   string
}

// addTargetsProgressEvery is how many targets AddTargets writes between
// calls of its progress function.
const addTargetsProgressEvery = 1000

// AddTargets stores many targets in one transaction: either every new one is
// stored or, on any error, none is. Each target is checked as AddTarget
// checks it; ts is updated in place (ID, Added, the trimmed URL) once the
// transaction has committed, and each stored target gets its own
// target.added audit entry, as with AddTarget.
//
// A target whose URL normalises to that of a stored target is skipped, not
// refused: it is reported in existing and left unchanged in ts. Invalid
// targets, two targets in ts sharing a normalised URL or an ID, and a given
// ID that is already taken are errors (wrapping ErrInvalid or
// ErrTargetExists) that name every such target by its index, and nothing is
// written.
//
// progress, when not nil, is called from the calling goroutine with the
// number of targets written or skipped so far, every thousand targets and
// once with len(ts) before the commit, which then writes the file and waits
// for it to reach the disk.
//
// Cost: one durable commit however many targets are given, where AddTarget
// makes one per target; memory grows with len(ts) until the commit (about
// 1 KB per target).
func (db *DB) AddTargets(ctx context.Context, ts []shopwatch.Target, progress func(done int)) (existing []ExistingTarget, err error) {
	if progress == nil {
		progress = func(int) {}
	}
	recs := make([]shopwatch.Target, len(ts))
	norms := make([]string, len(ts))
	var bad []error
	byURL := make(map[string]int, len(ts))
	byID := map[string]int{}
	for i := range ts {
		if i%scanCheckPeriod == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("add %d targets: %w", len(ts), err)
			}
		}
		rec, norm, err := db.checkNewTarget(ts[i])
		if err != nil {
			bad = append(bad, fmt.Errorf("target %d: %w", i, err))
			continue
		}
		if j, ok := byURL[norm]; ok {
			bad = append(bad, fmt.Errorf("target %d: %w: %s is target %d too (%s)", i, ErrTargetExists, rec.URL, j, norm))
			continue
		}
		byURL[norm] = i
		if rec.ID != "" {
			if j, ok := byID[rec.ID]; ok {
				bad = append(bad, fmt.Errorf("target %d: %w: id %s is target %d's too", i, ErrTargetExists, rec.ID, j))
				continue
			}
			byID[rec.ID] = i
		}
		recs[i], norms[i] = rec, norm
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("add %d targets: %d refused: %w", len(ts), len(bad), errors.Join(bad...))
	}
	err = db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		urls, targets := x.tx.Bucket(bTargetURLs), x.tx.Bucket(bTargets)
		var fresh []int // indexes of the targets to store
		var taken []error
		for i := range recs {
			if id := urls.Get([]byte(norms[i])); id != nil {
				existing = append(existing, ExistingTarget{Index: i, ID: string(id), URL: norms[i]})
				continue
			}
			if id := recs[i].ID; id != "" && targets.Get([]byte(id)) != nil {
				taken = append(taken, fmt.Errorf("target %d: %w: id %s is taken", i, ErrTargetExists, id))
				continue
			}
			fresh = append(fresh, i)
		}
		if len(taken) > 0 {
			return fmt.Errorf("%d refused: %w", len(taken), errors.Join(taken...))
		}
		used := make(map[string]bool, len(byID))
		for id := range byID {
			used[id] = true
		}
		for _, i := range fresh {
			rec := &recs[i]
			for rec.ID == "" {
				if id := "t-" + shortID(); !used[id] && targets.Get([]byte(id)) == nil {
					rec.ID, used[id] = id, true
				}
			}
			if rec.Added.IsZero() {
				rec.Added = x.now
			}
			rec.Added = rec.Added.UTC().Round(0)
		}
		// bbolt keeps a transaction's new keys in sorted in-memory nodes
		// until the commit: writing each bucket in key order appends instead
		// of shifting every later key, which for a large import is the
		// difference between seconds and hours.
		byKey := slices.Clone(fresh)
		slices.SortFunc(byKey, func(a, b int) int { return strings.Compare(recs[a].ID, recs[b].ID) })
		for n, i := range byKey {
			if n%scanCheckPeriod == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if err := putJSON(targets, []byte(recs[i].ID), &recs[i]); err != nil {
				return err
			}
			if (n+1)%addTargetsProgressEvery == 0 {
				progress(len(existing) + n + 1)
			}
		}
		slices.SortFunc(byKey, func(a, b int) int { return strings.Compare(norms[a], norms[b]) })
		for _, i := range byKey {
			if err := urls.Put([]byte(norms[i]), []byte(recs[i].ID)); err != nil {
				return err
			}
		}
		for _, i := range fresh {
			rec := &recs[i]
			if err := x.audit("target.added", fmt.Sprintf("target %s %s kind=%s category=%s priority=%d depth=%d",
				rec.ID, rec.URL, rec.Kind, rec.Category, rec.Priority, rec.Depth)); err != nil {
				return err
			}
		}
		progress(len(ts))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("add %d targets: %w", len(ts), err)
	}
	skip := make([]bool, len(ts))
	for _, e := range existing {
		skip[e.Index] = true
	}
	for i := range ts {
		if !skip[i] {
			ts[i] = recs[i]
		}
	}
	return existing, nil
}

// checkNewTarget returns t as it would be stored (its URL trimmed) and its
// key (see TargetKey), or an error naming the URL and what is wrong with
// it. AddTargets uses it; it checks what AddTarget checks.
func (db *DB) checkNewTarget(t shopwatch.Target) (shopwatch.Target, string, error) {
	t.URL = strings.TrimSpace(t.URL)
	if HasCredentials(t.URL) {
		return t, "", checkTarget(&t)
	}
	norm, err := TargetKey(t.URL, db.tracking)
	if err != nil {
		return t, "", err
	}
	if err := checkTarget(&t); err != nil {
		return t, "", fmt.Errorf("%s: %w", t.URL, err)
	}
	if t.ID != "" {
		if err := validID(t.ID); err != nil {
			return t, "", fmt.Errorf("%s: %w: %v", t.URL, ErrInvalid, err)
		}
	}
	return t, norm, nil
}

// TargetPatch is a change to a target's settings: every field that is not
// nil replaces the target's value; the others stay. It is how an edit
// travels (target edit, the API's PATCH /targets/{id}); Apply makes it.
type TargetPatch struct {
	Kind         *shopwatch.Kind `json:"kind,omitempty"`
	Platform     *string         `json:"platform,omitempty"`
	Category     *string         `json:"category,omitempty"`
	Tags         *[]string       `json:"tags,omitempty"`
	Jurisdiction *string         `json:"jurisdiction,omitempty"`
	Priority     *int            `json:"priority,omitempty"`
	Schedule     *string         `json:"schedule,omitempty"`
	Depth        *int            `json:"depth,omitempty"`
	Browser      *bool           `json:"browser,omitempty"`
	// Mobile set to true also sets Browser: a phone page is rendered.
	Mobile *bool `json:"mobile,omitempty"`
	Paused *bool `json:"paused,omitempty"`
}

// Empty reports whether the patch changes nothing.
func (p TargetPatch) Empty() bool { return p == TargetPatch{} }

// Apply makes the change on t.
func (p TargetPatch) Apply(t *shopwatch.Target) {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	if p.Kind != nil {
		t.Kind = *p.Kind
	}
	set(&t.Platform, p.Platform)
	set(&t.Category, p.Category)
	set(&t.Jurisdiction, p.Jurisdiction)
	set(&t.Schedule, p.Schedule)
	if p.Tags != nil {
		t.Tags = slices.Clone(*p.Tags)
	}
	if p.Priority != nil {
		t.Priority = *p.Priority
	}
	if p.Depth != nil {
		t.Depth = *p.Depth
	}
	if p.Browser != nil {
		t.Browser = *p.Browser
	}
	if p.Mobile != nil {
		t.Mobile = *p.Mobile
		t.Browser = t.Browser || t.Mobile
	}
	if p.Paused != nil {
		t.Paused = *p.Paused
	}
}
