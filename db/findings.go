package db

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// Filter selects findings; empty fields match everything.
type Filter struct {
	Sweep    string
	TargetID string
	VisitID  string
	Rule     string
	Category string // rule category: licence, advertising …
	URL      string
	Limit    int // at most this many; 0 means no limit
}

func (f Filter) match(r *findingRec) bool {
	return (f.Sweep == "" || r.Sweep == f.Sweep) &&
		(f.TargetID == "" || r.TargetID == f.TargetID) &&
		(f.VisitID == "" || r.VisitID == f.VisitID) &&
		(f.Rule == "" || r.Rule == f.Rule) &&
		(f.Category == "" || r.Category == f.Category) &&
		(f.URL == "" || r.URL == f.URL)
}

// findingRec is a finding as stored: the finding and the sweep of its visit.
type findingRec struct {
	shopwatch.Finding
	Sweep string `json:"sweep"`
}

// findingID is the id of the finding stored under sequence number seq.
func findingID(seq uint64) string { return "f-" + strconv.FormatUint(seq, 10) }

func findingSeq(id string) (uint64, bool) {
	s, ok := strings.CutPrefix(id, "f-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil && findingID(n) == id
}

// putFinding stores f under the next finding number, overwriting f.ID.
func (x *txn) putFinding(sweep string, f *shopwatch.Finding) error {
	b := x.tx.Bucket(bFindings)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	f.ID = findingID(seq)
	if err := putJSON(b, u64(seq), &findingRec{Finding: *f, Sweep: sweep}); err != nil {
		return err
	}
	return x.tx.Bucket(bFindingsBySwp).Put(sweepKey(sweep, seq), nil)
}

// ListFindings returns the findings that match f, in the order they were
// recorded. With f.Sweep set only that sweep's findings are read.
func (db *DB) ListFindings(ctx context.Context, f Filter) ([]shopwatch.Finding, error) {
	var out []shopwatch.Finding
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bFindings)
		n := 0
		visit := func(key []byte) (bool, error) {
			if n++; n%scanCheckPeriod == 0 {
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
			var r findingRec
			ok, err := getJSON(b, key, &r)
			if err != nil {
				return false, err
			}
			if !ok {
				return false, fmt.Errorf("finding index entry %x: %w", key, ErrNotFound)
			}
			if f.match(&r) {
				out = append(out, r.Finding)
			}
			return f.Limit <= 0 || len(out) < f.Limit, nil
		}
		if f.Sweep != "" {
			prefix := sweepPrefix(f.Sweep)
			c := tx.Bucket(bFindingsBySwp).Cursor()
			for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
				if more, err := visit(k[len(prefix):]); err != nil || !more {
					return err
				}
			}
			return nil
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if more, err := visit(k); err != nil || !more {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list findings %+v: %w", f, err)
	}
	return out, nil
}

// GetFinding returns the finding with the given id, or an error wrapping
// ErrNotFound.
func (db *DB) GetFinding(ctx context.Context, id string) (*shopwatch.Finding, error) {
	var r findingRec
	err := db.view(ctx, func(tx *bolt.Tx) error {
		seq, ok := findingSeq(id)
		if !ok {
			return ErrNotFound
		}
		ok, err := getJSON(tx.Bucket(bFindings), u64(seq), &r)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get finding %s: %w", id, err)
	}
	return &r.Finding, nil
}

// putEvidence stores a new evidence record, assigning an id when it has
// none; a record with the same id is never overwritten.
func (x *txn) putEvidence(ev *shopwatch.EvidenceRecord) error {
	b := x.tx.Bucket(bEvidence)
	if ev.ID == "" {
		for ev.ID == "" || b.Get([]byte(ev.ID)) != nil {
			ev.ID = "e-" + shortID()
		}
	} else if err := validID(ev.ID); err != nil {
		return fmt.Errorf("%w: evidence: %v", ErrInvalid, err)
	}
	if b.Get([]byte(ev.ID)) != nil {
		return fmt.Errorf("%w: %s", ErrEvidenceExists, ev.ID)
	}
	order := x.tx.Bucket(bEvidenceOrder)
	seq, err := order.NextSequence()
	if err != nil {
		return err
	}
	if err := putJSON(b, []byte(ev.ID), ev); err != nil {
		return err
	}
	if err := order.Put(u64(seq), []byte(ev.ID)); err != nil {
		return err
	}
	return x.audit("evidence.recorded", fmt.Sprintf("evidence %s of visit %s %s: manifest %s %s, %d artifact(s), %d finding(s)",
		ev.ID, ev.VisitID, ev.URL, ev.ManifestKey, ev.ManifestDigest, len(ev.Artifacts), ev.Findings))
}

// PutEvidence records an evidence record made outside a visit, such as a
// one-off capture. An empty rec.ID is filled in. A record with the same id
// is refused with an error wrapping ErrEvidenceExists: evidence records are
// append-only.
func (db *DB) PutEvidence(ctx context.Context, rec *shopwatch.EvidenceRecord) error {
	if rec == nil {
		return fmt.Errorf("put evidence: %w: nil record", ErrInvalid)
	}
	ev := *rec
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error { return x.putEvidence(&ev) })
	if err != nil {
		return fmt.Errorf("put evidence %s (%s): %w", rec.ID, rec.URL, err)
	}
	*rec = ev
	return nil
}

// GetEvidence returns the evidence record with the given id, or an error
// wrapping ErrNotFound.
func (db *DB) GetEvidence(ctx context.Context, id string) (*shopwatch.EvidenceRecord, error) {
	var ev shopwatch.EvidenceRecord
	err := db.view(ctx, func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bEvidence), []byte(id), &ev)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get evidence %s: %w", id, err)
	}
	return &ev, nil
}

// ListEvidence returns every evidence record in the order they were
// recorded.
func (db *DB) ListEvidence(ctx context.Context) ([]shopwatch.EvidenceRecord, error) {
	var out []shopwatch.EvidenceRecord
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bEvidence)
		c := tx.Bucket(bEvidenceOrder).Cursor()
		n := 0
		for k, id := c.First(); k != nil; k, id = c.Next() {
			if n++; n%scanCheckPeriod == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			var ev shopwatch.EvidenceRecord
			ok, err := getJSON(b, id, &ev)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("evidence order entry %x: evidence %s: %w", k, id, ErrNotFound)
			}
			out = append(out, ev)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list evidence: %w", err)
	}
	return out, nil
}
