package db

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// CaptureState is where an evidence capture a visit started stands.
type CaptureState string

// Capture states. A capture is started before its first object is stored,
// and ends indexed (its evidence record was committed with the visit) or
// abandoned (it was left incomplete, could not be used, or was not needed).
// Stores are append-only: the objects of an abandoned capture stay where
// they are, unindexed, and the capture record says why.
const (
	CaptureStarted   CaptureState = "started"
	CaptureIndexed   CaptureState = "indexed"
	CaptureAbandoned CaptureState = "abandoned"
)

// Capture is the record of one evidence capture a visit started: the
// evidence id whose objects (evidence/<id>/… in the store) it may have
// written, and what became of it. Every evidence id a sweep writes under
// has one, so every object in the store is accounted for.
type Capture struct {
	EvidenceID string       `json:"evidence_id"`
	VisitID    string       `json:"visit_id"`
	Sweep      string       `json:"sweep"`
	URL        string       `json:"url"`
	Attempt    int          `json:"attempt"` // the visit's lease token when it started
	Worker     string       `json:"worker"`
	State      CaptureState `json:"state"`
	Started    time.Time    `json:"started"`
	Settled    time.Time    `json:"settled,omitzero"` // when it became indexed or abandoned
	Reason     string       `json:"reason,omitempty"` // why it was abandoned
	// Seq is the order captures were started in, unique across the
	// database.
	Seq uint64 `json:"seq"`
}

// captureVisitKey is a key of captures_by_visit: visit id, NUL, seq.
func captureVisitKey(visitID string, seq uint64) []byte { return sweepKey(visitID, seq) }

func (x *txn) getCapture(id string) (*Capture, error) {
	var c Capture
	ok, err := getJSON(x.tx.Bucket(bCaptures), []byte(id), &c)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return &c, nil
}

func (x *txn) putCapture(c *Capture) error {
	return putJSON(x.tx.Bucket(bCaptures), []byte(c.EvidenceID), c)
}

// visitCaptures returns the captures of a visit in the order they started.
func visitCaptures(tx *bolt.Tx, visitID string) ([]Capture, error) {
	var out []Capture
	prefix := sweepPrefix(visitID)
	caps := tx.Bucket(bCaptures)
	c := tx.Bucket(bCapturesByVisit).Cursor()
	for k, id := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, id = c.Next() {
		var cp Capture
		ok, err := getJSON(caps, id, &cp)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("capture index entry %q: capture %s: %w", k, id, ErrNotFound)
		}
		out = append(out, cp)
	}
	return out, nil
}

// indexCapture marks the capture evidenceID of visit rec indexed, when it
// was started with StartCapture.
func (x *txn) indexCapture(rec *visitRec, evidenceID string) error {
	c, err := x.getCapture(evidenceID)
	switch {
	case err != nil:
		return err
	case c == nil:
		return nil // recorded without StartCapture (a one-off capture)
	case c.VisitID != rec.ID:
		return fmt.Errorf("%w: capture %s belongs to visit %s", ErrInvalid, evidenceID, c.VisitID)
	case c.State != CaptureStarted:
		return fmt.Errorf("%w: capture %s is %s", ErrInvalid, evidenceID, c.State)
	}
	c.State, c.Settled, c.Reason = CaptureIndexed, x.now, ""
	return x.putCapture(c)
}

// settleCaptures marks every started capture of visit rec abandoned for
// reason, except keep.
func (x *txn) settleCaptures(rec *visitRec, keep, reason string) error {
	caps, err := visitCaptures(x.tx, rec.ID)
	if err != nil {
		return err
	}
	for i := range caps {
		c := &caps[i]
		if c.State != CaptureStarted || c.EvidenceID == keep {
			continue
		}
		if err := x.abandon(c, reason); err != nil {
			return err
		}
	}
	return nil
}

func (x *txn) abandon(c *Capture, reason string) error {
	c.State, c.Settled, c.Reason = CaptureAbandoned, x.now, reason
	if err := x.putCapture(c); err != nil {
		return err
	}
	return x.audit("evidence.abandoned", fmt.Sprintf("capture %s of visit %s %s (attempt %d): %s; its stored objects stay, unindexed",
		c.EvidenceID, c.VisitID, c.URL, c.Attempt, reason))
}

// StartCapture records, before anything of it is stored, that the leased
// visit v is about to capture evidence under evidenceID. A later attempt
// of the visit finds the capture with VisitCaptures and settles it: uses
// it when it is complete, abandons it otherwise. The lease token is
// checked as by Complete (ErrLeaseLost: nothing written, and the caller
// must store nothing).
//
// Starting the same id again for the same visit is a no-op; an id already
// recorded for another visit, or already settled, is refused with an error
// wrapping ErrEvidenceExists.
func (db *DB) StartCapture(ctx context.Context, v shopwatch.Visit, evidenceID string) error {
	if err := validID(evidenceID); err != nil {
		return fmt.Errorf("start capture for visit %s: %w: %v", v.ID, ErrInvalid, err)
	}
	err := db.update(ctx, actorFrom(ctx, v.Worker), func(x *txn) error {
		rec, err := x.fenced(v)
		if err != nil {
			return err
		}
		old, err := x.getCapture(evidenceID)
		if err != nil {
			return err
		}
		if old != nil {
			if old.VisitID == rec.ID && old.State == CaptureStarted {
				return nil
			}
			return fmt.Errorf("%w: capture %s is %s for visit %s", ErrEvidenceExists, evidenceID, old.State, old.VisitID)
		}
		if x.tx.Bucket(bEvidence).Get([]byte(evidenceID)) != nil {
			return fmt.Errorf("%w: %s is an evidence record already", ErrEvidenceExists, evidenceID)
		}
		caps := x.tx.Bucket(bCaptures)
		seq, err := caps.NextSequence()
		if err != nil {
			return err
		}
		c := &Capture{EvidenceID: evidenceID, VisitID: rec.ID, Sweep: rec.Sweep, URL: rec.URL, Attempt: rec.Attempts,
			Worker: rec.Worker, State: CaptureStarted, Started: x.now, Seq: seq}
		if err := x.putCapture(c); err != nil {
			return err
		}
		if err := x.tx.Bucket(bCapturesByVisit).Put(captureVisitKey(rec.ID, seq), []byte(evidenceID)); err != nil {
			return err
		}
		return x.audit("evidence.capture-started", fmt.Sprintf("capture %s of visit %s %s (attempt %d by %s)",
			evidenceID, rec.ID, rec.URL, rec.Attempts, rec.Worker))
	})
	if err != nil {
		return fmt.Errorf("start capture %s for visit %s (%s): %w", evidenceID, v.ID, v.URL, err)
	}
	return nil
}

// AbandonCapture records that the started capture evidenceID of the leased
// visit v will not be used, and why (say, it has no manifest: an earlier
// attempt died while storing it). Its objects stay in the store. The lease
// token is checked as by Complete. A capture that is not a started capture
// of v is refused with an error wrapping ErrInvalid (ErrNotFound when no
// capture has that id).
func (db *DB) AbandonCapture(ctx context.Context, v shopwatch.Visit, evidenceID, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("abandon capture %s of visit %s: %w: no reason given", evidenceID, v.ID, ErrInvalid)
	}
	err := db.update(ctx, actorFrom(ctx, v.Worker), func(x *txn) error {
		rec, err := x.fenced(v)
		if err != nil {
			return err
		}
		c, err := x.getCapture(evidenceID)
		switch {
		case err != nil:
			return err
		case c == nil:
			return ErrNotFound
		case c.VisitID != rec.ID:
			return fmt.Errorf("%w: capture %s belongs to visit %s", ErrInvalid, evidenceID, c.VisitID)
		case c.State != CaptureStarted:
			return fmt.Errorf("%w: capture %s is %s already", ErrInvalid, evidenceID, c.State)
		}
		return x.abandon(c, reason)
	})
	if err != nil {
		return fmt.Errorf("abandon capture %s of visit %s (%s): %w", evidenceID, v.ID, v.URL, err)
	}
	return nil
}

// VisitCaptures returns the captures visit visitID started, in the order
// it started them; none is not an error.
func (db *DB) VisitCaptures(ctx context.Context, visitID string) ([]Capture, error) {
	var out []Capture
	err := db.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = visitCaptures(tx, visitID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("captures of visit %s: %w", visitID, err)
	}
	return out, nil
}

// ListCaptures returns every capture in the order they were started, only
// those in state unless state is empty.
func (db *DB) ListCaptures(ctx context.Context, state CaptureState) ([]Capture, error) {
	switch state {
	case "", CaptureStarted, CaptureIndexed, CaptureAbandoned:
	default:
		return nil, fmt.Errorf("list captures: %w: state %q", ErrInvalid, state)
	}
	var out []Capture
	err := db.view(ctx, func(tx *bolt.Tx) error {
		caps := tx.Bucket(bCaptures)
		n := 0
		return caps.ForEach(func(k, _ []byte) error {
			if n++; n%scanCheckPeriod == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var c Capture
			if _, err := getJSON(caps, k, &c); err != nil {
				return err
			}
			if state == "" || c.State == state {
				out = append(out, c)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list captures: %w", err)
	}
	sortCaptures(out)
	return out, nil
}

// sortCaptures puts captures read in key order (evidence ids) in start
// order.
func sortCaptures(cs []Capture) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].Seq < cs[j].Seq })
}

// RevokeLeases ends at once the leases on sweep's visits whose worker gone
// reports as gone for good (its process died), instead of when they
// expire; the visits are reclaimed by the next Lease as expired ones are,
// and the audit log records each revocation. An empty sweep means every
// sweep. It returns how many leases it revoked. Use it only with a gone
// that is sure: a revoked worker that is in fact alive loses its lease
// (its Complete then fails with ErrLeaseLost; nothing is done twice).
func (db *DB) RevokeLeases(ctx context.Context, sweep string, gone func(worker string) bool) (int, error) {
	if gone == nil {
		return 0, fmt.Errorf("revoke leases: %w: nil gone func", ErrInvalid)
	}
	n := 0
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		n = 0
		leased := x.tx.Bucket(bLeased)
		type entry struct{ key, id []byte }
		var all []entry
		c := leased.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			all = append(all, entry{clone(k), clone(v)})
		}
		// Back-date each revoked lease to just before now: the next Lease
		// reclaims it like any expired one.
		past := x.now.Add(-time.Nanosecond)
		for _, e := range all {
			rec, err := x.getVisit(string(e.id))
			if err != nil {
				return fmt.Errorf("leased index entry %x: %w", e.key, err)
			}
			if (sweep != "" && rec.Sweep != sweep) || !rec.LeaseUntil.After(past) || !gone(rec.Worker) {
				continue
			}
			if err := leased.Delete(e.key); err != nil {
				return err
			}
			until := rec.LeaseUntil
			rec.LeaseUntil = past
			if err := leased.Put(leasedKey(rec.LeaseUntil, rec.Seq), e.id); err != nil {
				return err
			}
			if err := x.putVisit(rec); err != nil {
				return err
			}
			if err := x.audit("visit.lease-revoked", fmt.Sprintf("visit %s %s: lease of %s (attempt %d, until %s) revoked: the worker is gone",
				rec.ID, rec.URL, rec.Worker, rec.Attempts, until.Format(time.RFC3339Nano))); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("revoke leases of sweep %q: %w", sweep, err)
	}
	return n, nil
}
