package db

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// Result is what a worker found on one visit, committed by Complete in the
// same transaction that marks the visit done.
type Result struct {
	Findings []shopwatch.Finding
	// Evidence is the capture of the visit, or nil when nothing was
	// captured.
	Evidence *shopwatch.EvidenceRecord
	// Children are visits for links the page led to; each is enqueued
	// idempotently, as by Enqueue.
	Children []shopwatch.Visit
	// Error is a problem the visit met without failing, such as a page that
	// was preserved although it was not HTML; it is recorded on the visit.
	Error string
}

// visitRec is a visit as stored: the visit and its queue bookkeeping.
type visitRec struct {
	shopwatch.Visit
	// Seq is the enqueue order, unique and fixed for the life of the visit.
	Seq uint64 `json:"seq"`
	// Turn is the place in the pending queue among visits of the same
	// priority: Seq at first, a new sequence number after a retry.
	Turn uint64 `json:"turn"`
	// Missing are the sequence numbers of the visit's findings stored
	// without evidence because its capture failed; a later attempt updates
	// them instead of storing them again.
	Missing []uint64 `json:"missing_findings,omitempty"`
}

func (x *txn) getVisit(id string) (*visitRec, error) {
	var rec visitRec
	ok, err := getJSON(x.tx.Bucket(bVisits), []byte(id), &rec)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("visit %s: %w", id, ErrNotFound)
	}
	return &rec, nil
}

func (x *txn) putVisit(rec *visitRec) error {
	return putJSON(x.tx.Bucket(bVisits), []byte(rec.ID), rec)
}

// prepareVisit validates v and returns it as a fresh pending visit.
func prepareVisit(v shopwatch.Visit) (shopwatch.Visit, error) {
	v.URL = strings.TrimSpace(v.URL)
	if _, err := NormalizeURL(v.URL); err != nil {
		if v.ID == "" {
			return v, fmt.Errorf("visit: %w", err)
		}
		return v, fmt.Errorf("visit %s: %w", v.ID, err)
	}
	if err := validID(v.Sweep); err != nil {
		return v, fmt.Errorf("visit of %s: %w: sweep: %v", v.URL, ErrInvalid, err)
	}
	if v.ID == "" {
		v.ID = VisitID(v.Sweep, v.URL)
	}
	if err := validID(v.ID); err != nil {
		return v, fmt.Errorf("visit of %s: %w: %v", v.URL, ErrInvalid, err)
	}
	if v.Kind != "" && !validKind(v.Kind) {
		return v, fmt.Errorf("visit %s of %s: %w: kind %q (want storefront, product or livestream)", v.ID, v.URL, ErrInvalid, v.Kind)
	}
	if v.Depth < 0 {
		return v, fmt.Errorf("visit %s of %s: %w: negative depth %d", v.ID, v.URL, ErrInvalid, v.Depth)
	}
	v.State = shopwatch.VisitPending
	v.Attempts = 0
	v.Worker = ""
	v.LeaseUntil = time.Time{}
	v.Finished = time.Time{}
	v.Error = ""
	v.EvidenceID = ""
	v.Findings = 0
	return v, nil
}

// enqueue adds one prepared visit unless its id is already stored, in any
// state. It reports whether it added the visit.
func (x *txn) enqueue(v shopwatch.Visit) (bool, error) {
	visits := x.tx.Bucket(bVisits)
	if visits.Get([]byte(v.ID)) != nil {
		return false, nil
	}
	seq, err := visits.NextSequence()
	if err != nil {
		return false, err
	}
	v.Enqueued = x.now
	rec := &visitRec{Visit: v, Seq: seq, Turn: seq}
	if err := x.putVisit(rec); err != nil {
		return false, err
	}
	if err := x.tx.Bucket(bVisitsBySweep).Put(sweepKey(v.Sweep, seq), []byte(v.ID)); err != nil {
		return false, err
	}
	if err := x.tx.Bucket(bPending).Put(pendingKey(v.Priority, seq), []byte(v.ID)); err != nil {
		return false, err
	}
	if err := x.ensureSweep(v.Sweep); err != nil {
		return false, err
	}
	x.move(v.Sweep, "", shopwatch.VisitPending)
	return true, nil
}

// Enqueue adds visits to the queue as pending and returns how many it
// added. It is idempotent on Visit.ID: a visit whose id is already stored,
// whatever its state (a finished visit included), is skipped, and so is a
// repeat within the call. An empty ID is filled with VisitID(Sweep, URL).
// State, attempts, lease and outcome fields of the given visits are
// ignored; Enqueued is set to now. Every visit is checked before anything
// is written: one invalid visit fails the whole call, naming it.
func (db *DB) Enqueue(ctx context.Context, visits ...shopwatch.Visit) (int, error) {
	if len(visits) == 0 {
		return 0, nil
	}
	prepared := make([]shopwatch.Visit, len(visits))
	for i, v := range visits {
		p, err := prepareVisit(v)
		if err != nil {
			return 0, fmt.Errorf("enqueue: %w", err)
		}
		prepared[i] = p
	}
	var added int
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		added = 0
		bySweep := map[string]int{}
		for _, v := range prepared {
			ok, err := x.enqueue(v)
			if err != nil {
				return fmt.Errorf("visit %s of %s: %w", v.ID, v.URL, err)
			}
			if ok {
				added++
				bySweep[v.Sweep]++
			}
		}
		for _, s := range sortedKeys(bySweep) {
			if err := x.audit("visits.enqueued", fmt.Sprintf("sweep %s: %d visit(s) added", s, bySweep[s])); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("enqueue %d visit(s): %w", len(visits), err)
	}
	return added, nil
}

// Lease hands worker up to max visits: pending visits and visits whose
// lease has expired (LeaseUntil before now), the highest Priority first and,
// within a priority, in enqueue order. Each is returned leased to worker
// until now+ttl with Attempts incremented; Attempts and Worker together are
// the lease token that Complete, Extend, Fail and Release check.
//
// Cost: the expired leases are found through an index ordered by expiry and
// the pending visits through one ordered by priority and enqueue order, so
// a call touches only the visits it hands out or reclaims, however long the
// queue. An empty result means nothing is available now.
func (db *DB) Lease(ctx context.Context, worker string, max int, ttl time.Duration) ([]shopwatch.Visit, error) {
	switch {
	case worker == "":
		return nil, fmt.Errorf("lease: %w: empty worker name", ErrInvalid)
	case max < 1:
		return nil, fmt.Errorf("lease for %s: %w: max %d (want at least 1)", worker, ErrInvalid, max)
	case ttl <= 0:
		return nil, fmt.Errorf("lease for %s: %w: ttl %s (want more than 0)", worker, ErrInvalid, ttl)
	}
	var out []shopwatch.Visit
	err := db.update(ctx, actorFrom(ctx, worker), func(x *txn) error {
		out = out[:0]
		if err := x.reclaimExpired(); err != nil {
			return err
		}
		pending, leased := x.tx.Bucket(bPending), x.tx.Bucket(bLeased)
		type entry struct{ key, id []byte }
		var picked []entry
		c := pending.Cursor()
		for k, v := c.First(); k != nil && len(picked) < max; k, v = c.Next() {
			picked = append(picked, entry{clone(k), clone(v)})
		}
		for _, e := range picked {
			rec, err := x.getVisit(string(e.id))
			if err != nil {
				return fmt.Errorf("pending index entry %x: %w", e.key, err)
			}
			if err := pending.Delete(e.key); err != nil {
				return err
			}
			rec.State = shopwatch.VisitLeased
			rec.Attempts++
			rec.Worker = worker
			rec.LeaseUntil = x.now.Add(ttl)
			if err := x.putVisit(rec); err != nil {
				return err
			}
			if err := leased.Put(leasedKey(rec.LeaseUntil, rec.Seq), e.id); err != nil {
				return err
			}
			x.move(rec.Sweep, shopwatch.VisitPending, shopwatch.VisitLeased)
			out = append(out, rec.Visit)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("lease for %s: %w", worker, err)
	}
	return out, nil
}

// reclaimExpired puts every visit whose lease ended before now back in the
// pending queue at its old place, or fails it when it has used up
// WithMaxLeases.
func (x *txn) reclaimExpired() error {
	leased, pending := x.tx.Bucket(bLeased), x.tx.Bucket(bPending)
	limit := timeKey(x.now)
	var keys, ids [][]byte
	c := leased.Cursor()
	for k, v := c.First(); k != nil && bytes.Compare(k[:8], limit) < 0; k, v = c.Next() {
		keys, ids = append(keys, clone(k)), append(ids, clone(v))
	}
	for i, k := range keys {
		rec, err := x.getVisit(string(ids[i]))
		if err != nil {
			return fmt.Errorf("leased index entry %x: %w", k, err)
		}
		if err := leased.Delete(k); err != nil {
			return err
		}
		worker := rec.Worker
		detail := fmt.Sprintf("visit %s %s: lease of %s (attempt %d) expired at %s",
			rec.ID, rec.URL, worker, rec.Attempts, rec.LeaseUntil.Format(time.RFC3339Nano))
		if max := x.db.maxLeases; max > 0 && rec.Attempts >= max {
			rec.State = shopwatch.VisitFailed
			rec.Finished = x.now
			rec.Error = fmt.Sprintf("lease expired %d times without the visit finishing (last worker %s)", rec.Attempts, rec.Worker)
			rec.LeaseUntil = time.Time{}
			x.move(rec.Sweep, shopwatch.VisitLeased, shopwatch.VisitFailed)
			if err := x.audit("visit.failed", detail+"; no leases left"); err != nil {
				return err
			}
			if err := x.settleCaptures(rec, "", "the visit failed: "+rec.Error); err != nil {
				return err
			}
		} else {
			rec.State = shopwatch.VisitPending
			rec.Worker = ""
			rec.LeaseUntil = time.Time{}
			if err := pending.Put(pendingKey(rec.Priority, rec.Turn), ids[i]); err != nil {
				return err
			}
			x.move(rec.Sweep, shopwatch.VisitLeased, shopwatch.VisitPending)
			if err := x.audit("visit.lease-expired", detail); err != nil {
				return err
			}
		}
		if err := x.putVisit(rec); err != nil {
			return err
		}
		x.db.log.Info("visit lease expired", "visit", rec.ID, "url", rec.URL, "worker", worker, "attempt", rec.Attempts, "state", rec.State)
	}
	return nil
}

// fenced returns the stored visit when v's lease token (ID, Attempts,
// Worker) is the current lease, and ErrLeaseLost otherwise.
func (x *txn) fenced(v shopwatch.Visit) (*visitRec, error) {
	rec, err := x.getVisit(v.ID)
	if err != nil {
		return nil, err
	}
	if rec.State != shopwatch.VisitLeased || rec.Attempts != v.Attempts || rec.Worker != v.Worker {
		return nil, fmt.Errorf("%w: caller holds attempt %d by %q, the visit is %s at attempt %d by %q",
			ErrLeaseLost, v.Attempts, v.Worker, rec.State, rec.Attempts, rec.Worker)
	}
	return rec, nil
}

// unlease removes rec from the leased index.
func (x *txn) unlease(rec *visitRec) error {
	return x.tx.Bucket(bLeased).Delete(leasedKey(rec.LeaseUntil, rec.Seq))
}

// Complete records the outcome of a leased visit. v is the visit as leased
// (or as last returned by Extend). When the stored visit is still leased
// with v's Attempts and Worker, Complete, in one transaction, marks it done
// (Finished, EvidenceID, Findings count, res.Error), stores the evidence
// record, stores the findings (assigning ids and setting VisitID and
// EvidenceID, and TargetID, URL, Kind and Time where empty), enqueues the
// children idempotently and appends to the audit log. Otherwise it returns
// an error wrapping ErrLeaseLost and writes nothing.
//
// Findings an earlier attempt kept without evidence (see FailCapture) are
// not stored twice: each one found again (same rule and match) gets the
// evidence and loses its mark; only findings not kept before are added.
//
// When the evidence record's id was started with StartCapture for v, that
// capture becomes indexed (an abandoned one is refused with ErrInvalid);
// every other capture v started and left started is abandoned.
//
// A lease that has run out but was not yet handed to another worker is
// still the current lease, so a slow worker's Complete succeeds until
// someone else leases the visit.
func (db *DB) Complete(ctx context.Context, v shopwatch.Visit, res Result) error {
	children := db.prepareChildren(v, res.Children)
	err := db.update(ctx, actorFrom(ctx, v.Worker), func(x *txn) error {
		rec, err := x.fenced(v)
		if err != nil {
			return err
		}
		if err := x.unlease(rec); err != nil {
			return err
		}
		var evidenceID string
		if res.Evidence != nil {
			ev := *res.Evidence
			if ev.VisitID == "" {
				ev.VisitID = rec.ID
			} else if ev.VisitID != rec.ID {
				return fmt.Errorf("%w: evidence %s belongs to visit %s", ErrInvalid, ev.ID, ev.VisitID)
			}
			if ev.TargetID == "" {
				ev.TargetID = rec.TargetID
			}
			if ev.URL == "" {
				ev.URL = rec.URL
			}
			if ev.Findings == 0 {
				ev.Findings = len(res.Findings)
			}
			if err := x.putEvidence(&ev); err != nil {
				return err
			}
			evidenceID = ev.ID
			if err := x.indexCapture(rec, evidenceID); err != nil {
				return err
			}
		}
		// Any other capture the visit started is not the one indexed; the
		// caller settled them before completing, so this only closes
		// what is left.
		if err := x.settleCaptures(rec, evidenceID, fmt.Sprintf("not used: the visit was completed at attempt %d with evidence %q", rec.Attempts, evidenceID)); err != nil {
			return err
		}
		// A visit that met a problem (res.Error) did not read its page in
		// full: it marks nothing gone.
		newFindings, err := x.recordFindings(rec, res.Findings, evidenceID, res.Error == "", "")
		if err != nil {
			return err
		}
		rec.State = shopwatch.VisitDone
		rec.Finished = x.now
		rec.LeaseUntil = time.Time{}
		rec.EvidenceID = evidenceID
		rec.Findings += newFindings
		rec.EvidenceMissing = false
		rec.Error = res.Error
		if err := x.putVisit(rec); err != nil {
			return err
		}
		x.move(rec.Sweep, shopwatch.VisitLeased, shopwatch.VisitDone)
		x.stats(rec.Sweep).Findings += newFindings
		added, err := x.enqueueChildren(children)
		if err != nil {
			return err
		}
		detail := fmt.Sprintf("visit %s %s attempt %d: %d finding(s), evidence %q, %d new child visit(s)",
			rec.ID, rec.URL, rec.Attempts, rec.Findings, evidenceID, added)
		if rec.Error != "" {
			detail += "; error: " + rec.Error
		}
		return x.audit("visit.completed", detail)
	})
	if err != nil {
		return fmt.Errorf("complete visit %s (%s): %w", v.ID, v.URL, err)
	}
	return nil
}

// prepareChildren fills in and checks the child visits of v, leaving out
// (with a warning) those that are invalid.
func (db *DB) prepareChildren(v shopwatch.Visit, cs []shopwatch.Visit) []shopwatch.Visit {
	var children []shopwatch.Visit
	for _, c := range cs {
		if c.Sweep == "" {
			c.Sweep = v.Sweep
		}
		if c.TargetID == "" {
			c.TargetID = v.TargetID
		}
		if c.Parent == "" {
			c.Parent = v.ID
		}
		p, err := prepareVisit(c)
		if err != nil {
			db.log.Warn("child visit skipped", "visit", v.ID, "url", c.URL, "err", err)
			continue
		}
		children = append(children, p)
	}
	return children
}

// enqueueChildren enqueues prepared child visits idempotently and returns
// how many it added.
func (x *txn) enqueueChildren(children []shopwatch.Visit) (int, error) {
	added := 0
	for _, c := range children {
		ok, err := x.enqueue(c)
		if err != nil {
			return added, fmt.Errorf("child %s of %s: %w", c.ID, c.URL, err)
		}
		if ok {
			added++
		}
	}
	return added, nil
}

// Extend renews the lease of v (a heartbeat) until now+ttl and returns the
// visit as now leased. The lease token is checked as by Complete: a lost
// lease is an error wrapping ErrLeaseLost and nothing is written.
func (db *DB) Extend(ctx context.Context, v shopwatch.Visit, ttl time.Duration) (shopwatch.Visit, error) {
	if ttl <= 0 {
		return v, fmt.Errorf("extend lease of visit %s: %w: ttl %s (want more than 0)", v.ID, ErrInvalid, ttl)
	}
	var out shopwatch.Visit
	err := db.update(ctx, actorFrom(ctx, v.Worker), func(x *txn) error {
		rec, err := x.fenced(v)
		if err != nil {
			return err
		}
		if err := x.unlease(rec); err != nil {
			return err
		}
		rec.LeaseUntil = x.now.Add(ttl)
		if err := x.putVisit(rec); err != nil {
			return err
		}
		out = rec.Visit
		return x.tx.Bucket(bLeased).Put(leasedKey(rec.LeaseUntil, rec.Seq), []byte(rec.ID))
	})
	if err != nil {
		return v, fmt.Errorf("extend lease of visit %s (%s): %w", v.ID, v.URL, err)
	}
	return out, nil
}

// Fail records that the leased visit v did not succeed because of cause.
// The lease token is checked as by Complete. The visit goes back to the end
// of the pending queue of its priority when it has had fewer than
// maxAttempts leases, and is failed (Finished set) otherwise; maxAttempts
// below 1 counts as 1. The error text is kept on the visit either way. A
// failed visit's started captures are abandoned; a retried visit keeps
// them for its next attempt to settle.
func (db *DB) Fail(ctx context.Context, v shopwatch.Visit, cause error, maxAttempts int) error {
	return db.fail(ctx, v, cause, maxAttempts, nil)
}

// FailCapture records, as Fail does, that the leased visit v did not
// succeed because its evidence capture failed with cause; res is what the
// attempt found on the page (res.Evidence is ignored). When the visit is
// failed for good, in the same transaction, res.Findings are stored
// without evidence, each marked with the cause in EvidenceMissing, the
// visit is marked EvidenceMissing (so that RetryMissingEvidence can put it
// back) and res.Children are enqueued as by Complete, so that nothing the
// page showed is lost; findings an earlier attempt kept are updated, not
// stored again. When the visit is retried, nothing of res is stored: the
// next attempt finds it again.
func (db *DB) FailCapture(ctx context.Context, v shopwatch.Visit, cause error, maxAttempts int, res Result) error {
	if res.Findings == nil {
		res.Findings = []shopwatch.Finding{}
	}
	return db.fail(ctx, v, cause, maxAttempts, &res)
}

// fail is Fail; a non-nil keep makes it FailCapture.
func (db *DB) fail(ctx context.Context, v shopwatch.Visit, cause error, maxAttempts int, keep *Result) error {
	var children []shopwatch.Visit
	if keep != nil {
		children = db.prepareChildren(v, keep.Children)
	}
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	err := db.update(ctx, actorFrom(ctx, v.Worker), func(x *txn) error {
		rec, err := x.fenced(v)
		if err != nil {
			return err
		}
		if err := x.unlease(rec); err != nil {
			return err
		}
		rec.Error = msg
		rec.LeaseUntil = time.Time{}
		detail := fmt.Sprintf("visit %s %s attempt %d by %s: %s", rec.ID, rec.URL, rec.Attempts, rec.Worker, msg)
		if rec.Attempts < maxAttempts {
			turn, err := x.tx.Bucket(bVisits).NextSequence()
			if err != nil {
				return err
			}
			rec.State = shopwatch.VisitPending
			rec.Worker = ""
			rec.Turn = turn
			if err := x.tx.Bucket(bPending).Put(pendingKey(rec.Priority, rec.Turn), []byte(rec.ID)); err != nil {
				return err
			}
			x.move(rec.Sweep, shopwatch.VisitLeased, shopwatch.VisitPending)
			if err := x.audit("visit.retry", detail); err != nil {
				return err
			}
		} else {
			rec.State = shopwatch.VisitFailed
			rec.Finished = x.now
			x.move(rec.Sweep, shopwatch.VisitLeased, shopwatch.VisitFailed)
			if keep != nil {
				added, err := x.recordFindings(rec, keep.Findings, "", false, msg)
				if err != nil {
					return err
				}
				rec.Findings += added
				x.stats(rec.Sweep).Findings += added
				rec.EvidenceMissing = true
				queued, err := x.enqueueChildren(children)
				if err != nil {
					return err
				}
				detail += fmt.Sprintf("; evidence missing: %d finding(s) kept without evidence, %d of them new; %d new child visit(s)", len(rec.Missing), added, queued)
			}
			if err := x.audit("visit.failed", detail); err != nil {
				return err
			}
			if err := x.settleCaptures(rec, "", "the visit failed: "+msg); err != nil {
				return err
			}
		}
		return x.putVisit(rec)
	})
	if err != nil {
		return fmt.Errorf("fail visit %s (%s): %w", v.ID, v.URL, err)
	}
	return nil
}

// RetryMissingEvidence puts every failed visit of sweep whose capture
// failed (Visit.EvidenceMissing) back in the pending queue, with a fresh
// attempt budget (RetryBase set to its Attempts; the lease token keeps
// counting). Its kept findings stay; the attempt that captures the page
// attaches its evidence to them. It returns how many visits it put back.
func (db *DB) RetryMissingEvidence(ctx context.Context, sweep string) (int, error) {
	n := 0
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		n = 0
		var ids [][]byte
		prefix := sweepPrefix(sweep)
		c := x.tx.Bucket(bVisitsBySweep).Cursor()
		for k, id := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, id = c.Next() {
			ids = append(ids, clone(id))
		}
		for _, id := range ids {
			rec, err := x.getVisit(string(id))
			if err != nil {
				return err
			}
			if rec.State != shopwatch.VisitFailed || !rec.EvidenceMissing {
				continue
			}
			turn, err := x.tx.Bucket(bVisits).NextSequence()
			if err != nil {
				return err
			}
			rec.State = shopwatch.VisitPending
			rec.Worker = ""
			rec.Finished = time.Time{}
			rec.RetryBase = rec.Attempts
			rec.Turn = turn
			if err := x.tx.Bucket(bPending).Put(pendingKey(rec.Priority, rec.Turn), id); err != nil {
				return err
			}
			if err := x.putVisit(rec); err != nil {
				return err
			}
			x.move(rec.Sweep, shopwatch.VisitFailed, shopwatch.VisitPending)
			if err := x.audit("visit.retry-evidence", fmt.Sprintf("visit %s %s after attempt %d: evidence missing (%s); %d finding(s) await it",
				rec.ID, rec.URL, rec.Attempts, rec.Error, len(rec.Missing))); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("retry visits of sweep %s with missing evidence: %w", sweep, err)
	}
	return n, nil
}

// Release gives the leased visit v back untouched, for a worker shutting
// down: it returns to its old place in the pending queue at once instead of
// when its lease expires. The lease it had still counts in Attempts. The
// lease token is checked as by Complete.
func (db *DB) Release(ctx context.Context, v shopwatch.Visit) error {
	err := db.update(ctx, actorFrom(ctx, v.Worker), func(x *txn) error {
		rec, err := x.fenced(v)
		if err != nil {
			return err
		}
		if err := x.unlease(rec); err != nil {
			return err
		}
		rec.State = shopwatch.VisitPending
		rec.Worker = ""
		rec.LeaseUntil = time.Time{}
		if err := x.tx.Bucket(bPending).Put(pendingKey(rec.Priority, rec.Turn), []byte(rec.ID)); err != nil {
			return err
		}
		x.move(rec.Sweep, shopwatch.VisitLeased, shopwatch.VisitPending)
		return x.putVisit(rec)
	})
	if err != nil {
		return fmt.Errorf("release visit %s (%s): %w", v.ID, v.URL, err)
	}
	return nil
}

// GetVisit returns the visit with the given id, or an error wrapping
// ErrNotFound.
func (db *DB) GetVisit(ctx context.Context, id string) (*shopwatch.Visit, error) {
	var rec visitRec
	err := db.view(ctx, func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bVisits), []byte(id), &rec)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get visit %s: %w", id, err)
	}
	return &rec.Visit, nil
}

// ListVisits returns the visits of sweep in enqueue order, only those in
// state unless state is empty. An empty sweep lists every sweep's visits,
// grouped by sweep id.
func (db *DB) ListVisits(ctx context.Context, sweep string, state shopwatch.VisitState) ([]shopwatch.Visit, error) {
	switch state {
	case "", shopwatch.VisitPending, shopwatch.VisitLeased, shopwatch.VisitDone, shopwatch.VisitFailed:
	default:
		return nil, fmt.Errorf("list visits of sweep %s: %w: state %q", sweep, ErrInvalid, state)
	}
	var out []shopwatch.Visit
	err := db.view(ctx, func(tx *bolt.Tx) error {
		visits := tx.Bucket(bVisits)
		var prefix []byte
		if sweep != "" {
			prefix = sweepPrefix(sweep)
		}
		c := tx.Bucket(bVisitsBySweep).Cursor()
		n := 0
		for k, id := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, id = c.Next() {
			if n++; n%scanCheckPeriod == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var rec visitRec
			ok, err := getJSON(visits, id, &rec)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("sweep index entry %q: visit %s: %w", k, id, ErrNotFound)
			}
			if state == "" || rec.State == state {
				out = append(out, rec.Visit)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list visits of sweep %s: %w", sweep, err)
	}
	return out, nil
}
