package db

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// Problem is one inconsistency Check found, naming the bucket and key of
// the record it concerns.
type Problem struct {
	Bucket string
	Key    string
	Msg    string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Bucket + ": " + p.Msg
	}
	return p.Bucket + " " + p.Key + ": " + p.Msg
}

// CheckError lists every problem Check or VerifyAudit found.
type CheckError struct {
	Problems []Problem
}

func (e *CheckError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "database check: %d problem(s)", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

func (e *CheckError) add(bucket, key, msg string) {
	e.Problems = append(e.Problems, Problem{Bucket: bucket, Key: key, Msg: msg})
}

func (e *CheckError) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// Check reads the whole database and checks that its records agree with
// each other: every visit is in exactly the index its state calls for (a
// pending visit in the priority queue, a leased one in the expiry index,
// a done or failed one in neither), done and failed visits have Finished
// set, index entries point at visits in the matching state, the per-sweep
// counters equal the visits and findings actually stored, every finding
// belongs to a done visit whose Findings count it is part of (or, marked
// evidence missing, to a visit awaiting evidence), evidence
// referenced exists, every capture record agrees with its visit and the
// evidence index (see Capture), and the audit log's hash chain is intact.
//
// It returns nil, a *CheckError listing every problem found, or the error
// that stopped it. Cost: one read transaction over everything; the memory
// used grows with the number of visits.
func (db *DB) Check(ctx context.Context) error {
	var ce CheckError
	err := db.view(ctx, func(tx *bolt.Tx) error {
		checkTargets(tx, db.tracking, &ce)
		if err := checkQueue(ctx, tx, &ce); err != nil {
			return err
		}
		verifyAudit(ctx, tx, &ce)
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("check database %s: %w", db.path, err)
	}
	return ce.orNil()
}

// CheckFile runs bbolt's own consistency check of the file (Tx.Check)
// in one read transaction: every page below the high water mark is
// reachable or free exactly once, the freelist holds no page twice, keys
// are in order across pages. Open has already checked every page's
// bounds and layout, which Tx.Check relies on. It returns nil or a
// *DamageError listing what it found (at most 100 problems). Cost: one
// read of every page in use, and memory for a map of them.
func (db *DB) CheckFile(ctx context.Context) error {
	var problems []string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			if len(problems) < 100 {
				problems = append(problems, err.Error())
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check database file %s: %w", db.path, err)
	}
	if len(problems) > 0 {
		return &DamageError{Path: db.path, Problems: problems}
	}
	return ctx.Err()
}

// targetKeys are the keys a target may be indexed under: its key with
// tracking parameters dropped (see TargetKey), and its normalised URL (as
// stored before tracking parameters were dropped, or with other ones).
func targetKeys(u string, tracking []string) []string {
	norm, err := NormalizeURL(u)
	if err != nil {
		return nil
	}
	if key, err := TargetKey(u, tracking); err == nil && key != norm {
		return []string{key, norm}
	}
	return []string{norm}
}

func checkTargets(tx *bolt.Tx, tracking []string, ce *CheckError) {
	targets, urls := tx.Bucket(bTargets), tx.Bucket(bTargetURLs)
	_ = targets.ForEach(func(k, _ []byte) error {
		var t shopwatch.Target
		if _, err := getJSON(targets, k, &t); err != nil {
			ce.add("targets", string(k), err.Error())
			return nil
		}
		if t.ID != string(k) {
			ce.add("targets", string(k), fmt.Sprintf("record has id %q", t.ID))
		}
		if !validKind(t.Kind) {
			ce.add("targets", string(k), fmt.Sprintf("invalid kind %q", t.Kind))
		}
		if _, err := NormalizeURL(t.URL); err != nil {
			ce.add("targets", string(k), err.Error())
			return nil
		}
		keys := targetKeys(t.URL, tracking)
		if !slices.ContainsFunc(keys, func(key string) bool { return string(urls.Get([]byte(key))) == string(k) }) {
			ce.add("targets", string(k), fmt.Sprintf("URL index has %s -> %q", keys[0], urls.Get([]byte(keys[0]))))
		}
		return nil
	})
	_ = urls.ForEach(func(k, v []byte) error {
		var t shopwatch.Target
		ok, err := getJSON(targets, v, &t)
		switch {
		case err != nil:
		case !ok:
			ce.add("target_urls", string(k), fmt.Sprintf("points at missing target %s", v))
		default:
			if !slices.Contains(targetKeys(t.URL, tracking), string(k)) {
				ce.add("target_urls", string(k), fmt.Sprintf("points at target %s whose URL is %s", v, t.URL))
			}
		}
		return nil
	})
}

func checkQueue(ctx context.Context, tx *bolt.Tx, ce *CheckError) error {
	visitsB := tx.Bucket(bVisits)
	pendingB, leasedB, bySweepB := tx.Bucket(bPending), tx.Bucket(bLeased), tx.Bucket(bVisitsBySweep)
	evidenceB := tx.Bucket(bEvidence)
	visits := map[string]*visitRec{}
	seqs := map[uint64]string{}
	tally := map[string]*Stats{}
	count := func(sweep string) *Stats {
		if tally[sweep] == nil {
			tally[sweep] = &Stats{}
		}
		return tally[sweep]
	}
	expect := func(b *bolt.Bucket, name string, key []byte, id string, what string) {
		if got := b.Get(key); string(got) != id {
			ce.add("visits", id, fmt.Sprintf("%s but %s has %x -> %q", what, name, key, got))
		}
	}
	n := 0
	err := visitsB.ForEach(func(k, _ []byte) error {
		if n++; n%scanCheckPeriod == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		id := string(k)
		rec := &visitRec{}
		if _, err := getJSON(visitsB, k, rec); err != nil {
			ce.add("visits", id, err.Error())
			return nil
		}
		visits[id] = rec
		if rec.ID != id {
			ce.add("visits", id, fmt.Sprintf("record has id %q", rec.ID))
		}
		if other, dup := seqs[rec.Seq]; dup {
			ce.add("visits", id, fmt.Sprintf("seq %d also used by visit %s", rec.Seq, other))
		}
		seqs[rec.Seq] = id
		if rec.Seq > visitsB.Sequence() || rec.Turn > visitsB.Sequence() {
			ce.add("visits", id, fmt.Sprintf("seq %d / turn %d beyond the bucket sequence %d", rec.Seq, rec.Turn, visitsB.Sequence()))
		}
		if tx.Bucket(bSweeps).Get([]byte(rec.Sweep)) == nil {
			ce.add("visits", id, fmt.Sprintf("sweep %q is not recorded", rec.Sweep))
		}
		expect(bySweepB, "visits_by_sweep", sweepKey(rec.Sweep, rec.Seq), id, "visit exists")
		switch rec.State {
		case shopwatch.VisitPending:
			expect(pendingB, "queue_pending", pendingKey(rec.Priority, rec.Turn), id, "visit is pending")
			if !rec.LeaseUntil.IsZero() || rec.Worker != "" {
				ce.add("visits", id, fmt.Sprintf("pending but holds a lease by %q until %s", rec.Worker, rec.LeaseUntil))
			}
		case shopwatch.VisitLeased:
			expect(leasedB, "queue_leased", leasedKey(rec.LeaseUntil, rec.Seq), id, "visit is leased")
			if rec.Worker == "" || rec.LeaseUntil.IsZero() || rec.Attempts < 1 {
				ce.add("visits", id, fmt.Sprintf("leased without a proper lease: worker %q until %s attempt %d", rec.Worker, rec.LeaseUntil, rec.Attempts))
			}
		case shopwatch.VisitDone, shopwatch.VisitFailed:
			if rec.Attempts < 1 {
				ce.add("visits", id, fmt.Sprintf("%s but never leased", rec.State))
			}
			if !rec.LeaseUntil.IsZero() {
				ce.add("visits", id, fmt.Sprintf("%s but still holds a lease until %s", rec.State, rec.LeaseUntil))
			}
		default:
			ce.add("visits", id, fmt.Sprintf("unknown state %q", rec.State))
		}
		if rec.State == shopwatch.VisitDone || rec.State == shopwatch.VisitFailed {
			if rec.Finished.IsZero() {
				ce.add("visits", id, fmt.Sprintf("%s without Finished", rec.State))
			}
		} else if !rec.Finished.IsZero() {
			ce.add("visits", id, fmt.Sprintf("%s with Finished %s", rec.State, rec.Finished))
		}
		if rec.State != shopwatch.VisitDone && (rec.EvidenceID != "" || (rec.Findings != 0 && !rec.EvidenceMissing)) {
			ce.add("visits", id, fmt.Sprintf("%s with evidence %q and %d finding(s)", rec.State, rec.EvidenceID, rec.Findings))
		}
		if rec.EvidenceID != "" && evidenceB.Get([]byte(rec.EvidenceID)) == nil {
			ce.add("visits", id, fmt.Sprintf("evidence %s is not recorded", rec.EvidenceID))
		}
		count(rec.Sweep).add(rec.State, 1)
		return nil
	})
	if err != nil {
		return err
	}

	// Every index entry must point back at a visit that expects it.
	index := func(b *bolt.Bucket, name string, want func(rec *visitRec, k []byte) string) {
		_ = b.ForEach(func(k, v []byte) error {
			rec := visits[string(v)]
			if rec == nil {
				ce.add(name, fmt.Sprintf("%x", k), fmt.Sprintf("points at missing visit %s", v))
				return nil
			}
			if msg := want(rec, k); msg != "" {
				ce.add(name, fmt.Sprintf("%x", k), fmt.Sprintf("points at visit %s, which is %s", v, msg))
			}
			return nil
		})
	}
	index(pendingB, "queue_pending", func(rec *visitRec, k []byte) string {
		if rec.State != shopwatch.VisitPending {
			return string(rec.State)
		}
		if !bytes.Equal(k, pendingKey(rec.Priority, rec.Turn)) {
			return fmt.Sprintf("pending at priority %d turn %d", rec.Priority, rec.Turn)
		}
		return ""
	})
	index(leasedB, "queue_leased", func(rec *visitRec, k []byte) string {
		if rec.State != shopwatch.VisitLeased {
			return string(rec.State)
		}
		if !bytes.Equal(k, leasedKey(rec.LeaseUntil, rec.Seq)) {
			return fmt.Sprintf("leased until %s", rec.LeaseUntil)
		}
		return ""
	})
	index(bySweepB, "visits_by_sweep", func(rec *visitRec, k []byte) string {
		if !bytes.Equal(k, sweepKey(rec.Sweep, rec.Seq)) {
			return fmt.Sprintf("in sweep %s with seq %d", rec.Sweep, rec.Seq)
		}
		return ""
	})

	checkFindings(tx, visits, count, ce)

	// Evidence.
	seen := map[string]int{}
	_ = tx.Bucket(bEvidenceOrder).ForEach(func(k, v []byte) error {
		seen[string(v)]++
		if evidenceB.Get(v) == nil {
			ce.add("evidence_order", fmt.Sprintf("%x", k), fmt.Sprintf("points at missing evidence %s", v))
		}
		return nil
	})
	_ = evidenceB.ForEach(func(k, _ []byte) error {
		var ev shopwatch.EvidenceRecord
		if _, err := getJSON(evidenceB, k, &ev); err != nil {
			ce.add("evidence", string(k), err.Error())
			return nil
		}
		if ev.ID != string(k) {
			ce.add("evidence", string(k), fmt.Sprintf("record has id %q", ev.ID))
		}
		if seen[string(k)] != 1 {
			ce.add("evidence", string(k), fmt.Sprintf("listed %d times in evidence_order", seen[string(k)]))
		}
		return nil
	})

	checkCaptures(tx, visits, ce)

	// Counters.
	statsB := tx.Bucket(bSweepStats)
	stored := map[string]Stats{}
	_ = statsB.ForEach(func(k, _ []byte) error {
		var st Stats
		if _, err := getJSON(statsB, k, &st); err != nil {
			ce.add("sweep_stats", string(k), err.Error())
			return nil
		}
		stored[string(k)] = st
		return nil
	})
	for s := range tally {
		if _, ok := stored[s]; !ok {
			stored[s] = Stats{}
		}
	}
	for _, s := range sortedKeys(stored) {
		var want Stats
		if t := tally[s]; t != nil {
			want = *t
		}
		if got := stored[s]; got != want {
			ce.add("sweep_stats", s, fmt.Sprintf("counters %+v, records say %+v", got, want))
		}
	}
	return nil
}

// checkCaptures checks the capture records against the visits and the
// evidence index: every capture is indexed under its visit, a started one
// belongs to a visit still to be done, an indexed one is the evidence
// record of its done visit, and an abandoned one is indexed nowhere.
func checkCaptures(tx *bolt.Tx, visits map[string]*visitRec, ce *CheckError) {
	caps, byVisit, evidenceB := tx.Bucket(bCaptures), tx.Bucket(bCapturesByVisit), tx.Bucket(bEvidence)
	seqs := map[uint64]string{}
	_ = caps.ForEach(func(k, _ []byte) error {
		id := string(k)
		var c Capture
		if _, err := getJSON(caps, k, &c); err != nil {
			ce.add("captures", id, err.Error())
			return nil
		}
		if c.EvidenceID != id {
			ce.add("captures", id, fmt.Sprintf("record has evidence id %q", c.EvidenceID))
		}
		if other, dup := seqs[c.Seq]; dup {
			ce.add("captures", id, fmt.Sprintf("seq %d also used by capture %s", c.Seq, other))
		}
		seqs[c.Seq] = id
		if c.Seq == 0 || c.Seq > caps.Sequence() {
			ce.add("captures", id, fmt.Sprintf("seq %d outside the bucket sequence %d", c.Seq, caps.Sequence()))
		}
		if got := byVisit.Get(captureVisitKey(c.VisitID, c.Seq)); string(got) != id {
			ce.add("captures", id, fmt.Sprintf("captures_by_visit has %q for visit %s seq %d", got, c.VisitID, c.Seq))
		}
		v := visits[c.VisitID]
		if v == nil {
			ce.add("captures", id, fmt.Sprintf("visit %q does not exist", c.VisitID))
			return nil
		}
		var ev shopwatch.EvidenceRecord
		recorded, err := getJSON(evidenceB, k, &ev)
		if err != nil {
			recorded = true // reported with the evidence bucket
		}
		switch c.State {
		case CaptureStarted:
			if v.State != shopwatch.VisitPending && v.State != shopwatch.VisitLeased {
				ce.add("captures", id, fmt.Sprintf("still started but visit %s is %s", c.VisitID, v.State))
			}
			if recorded {
				ce.add("captures", id, "still started but an evidence record has its id")
			}
		case CaptureIndexed:
			switch {
			case !recorded:
				ce.add("captures", id, "indexed but no evidence record has its id")
			case err == nil && ev.VisitID != c.VisitID:
				ce.add("captures", id, fmt.Sprintf("indexed for visit %s but the evidence record is of visit %s", c.VisitID, ev.VisitID))
			}
			if v.State != shopwatch.VisitDone || v.EvidenceID != id {
				ce.add("captures", id, fmt.Sprintf("indexed but visit %s is %s with evidence %q", c.VisitID, v.State, v.EvidenceID))
			}
		case CaptureAbandoned:
			if recorded {
				ce.add("captures", id, "abandoned but an evidence record has its id")
			}
			if c.Reason == "" || c.Settled.IsZero() {
				ce.add("captures", id, "abandoned without a reason or time")
			}
		default:
			ce.add("captures", id, fmt.Sprintf("unknown state %q", c.State))
		}
		return nil
	})
	_ = byVisit.ForEach(func(k, v []byte) error {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k) != i+9 {
			ce.add("captures_by_visit", fmt.Sprintf("%x", k), "malformed key")
			return nil
		}
		var c Capture
		ok, err := getJSON(caps, v, &c)
		if err == nil && (!ok || c.VisitID != string(k[:i]) || c.Seq != binary.BigEndian.Uint64(k[i+1:])) {
			ce.add("captures_by_visit", fmt.Sprintf("%s/%d", k[:i], binary.BigEndian.Uint64(k[i+1:])), fmt.Sprintf("points at capture %s, which is not that visit's", v))
		}
		return nil
	})
}
