package db

import (
	"context"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// Sweep is one pass over the targets; its id groups the visits it made.
type Sweep struct {
	ID      string    `json:"id"`
	Name    string    `json:"name,omitempty"`
	Started time.Time `json:"started"`
	// Finished is when the sweep last had no visit pending or leased; zero
	// while it has (it is running, or was interrupted).
	Finished time.Time `json:"finished,omitzero"`
}

// Stats counts a sweep's visits by state, and the findings they recorded.
type Stats struct {
	Pending  int `json:"pending"`
	Leased   int `json:"leased"`
	Done     int `json:"done"`
	Failed   int `json:"failed"`
	Findings int `json:"findings"`
}

// Visits is the number of visits the sweep has in any state.
func (s Stats) Visits() int { return s.Pending + s.Leased + s.Done + s.Failed }

// NewSweepID returns a new sweep id: "s-", the UTC start time to the
// second and four random characters, so that ids sort by start time.
func NewSweepID() string { return newSweepID(time.Now()) }

func newSweepID(t time.Time) string {
	return "s-" + t.UTC().Format("20060102T150405") + "-" + shortID()[:4]
}

// CreateSweep records a new sweep named name, started now, and returns its
// id.
func (db *DB) CreateSweep(ctx context.Context, name string) (string, error) {
	var id string
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		var err error
		id, err = x.createSweep(name)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("create sweep %q: %w", name, err)
	}
	return id, nil
}

func (x *txn) createSweep(name string) (string, error) {
	sweeps := x.tx.Bucket(bSweeps)
	id := ""
	for id == "" || sweeps.Get([]byte(id)) != nil {
		id = newSweepID(x.now)
	}
	s := Sweep{ID: id, Name: name, Started: x.now}
	if err := putJSON(sweeps, []byte(id), &s); err != nil {
		return "", err
	}
	return id, x.audit("sweep.created", fmt.Sprintf("sweep %s %q", id, name))
}

// PlanSweep plans a new sweep in one transaction: it records a sweep named
// name, started now, enqueues visits into it (each visit's Sweep and ID are
// set from the new sweep's id; otherwise as by Enqueue) and records the
// targets targetIDs as swept at swept (see MarkSwept). A crash leaves all
// of it or none, never a sweep without its visits. No visits is an error
// wrapping ErrInvalid, and so is an invalid visit; an unknown target is
// ErrNotFound. It returns the sweep id and how many visits it queued.
func (db *DB) PlanSweep(ctx context.Context, name string, visits []shopwatch.Visit, targetIDs []string, swept time.Time) (string, int, error) {
	if len(visits) == 0 {
		return "", 0, fmt.Errorf("plan sweep %q: %w: no visits", name, ErrInvalid)
	}
	var id string
	var added int
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		added = 0
		var err error
		if id, err = x.createSweep(name); err != nil {
			return err
		}
		for _, v := range visits {
			v.Sweep, v.ID = id, ""
			p, err := prepareVisit(v)
			if err != nil {
				return err
			}
			ok, err := x.enqueue(p)
			if err != nil {
				return fmt.Errorf("visit %s of %s: %w", p.ID, p.URL, err)
			}
			if ok {
				added++
			}
		}
		targets := x.tx.Bucket(bTargets)
		for _, tid := range targetIDs {
			var t shopwatch.Target
			ok, err := getJSON(targets, []byte(tid), &t)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("target %s: %w", tid, ErrNotFound)
			}
			t.LastSwept = swept.UTC()
			if err := putJSON(targets, []byte(tid), &t); err != nil {
				return err
			}
		}
		return x.audit("visits.enqueued", fmt.Sprintf("sweep %s: %d visit(s) added, %d target(s) marked swept", id, added, len(targetIDs)))
	})
	if err != nil {
		return "", 0, fmt.Errorf("plan sweep %q of %d visit(s): %w", name, len(visits), err)
	}
	return id, added, nil
}

// ensureSweep records a sweep the first time a visit names it, so that
// every sweep with visits is listed.
func (x *txn) ensureSweep(id string) error {
	sweeps := x.tx.Bucket(bSweeps)
	if sweeps.Get([]byte(id)) != nil {
		return nil
	}
	return putJSON(sweeps, []byte(id), &Sweep{ID: id, Started: x.now})
}

// GetSweep returns the sweep with the given id, or an error wrapping
// ErrNotFound.
func (db *DB) GetSweep(ctx context.Context, id string) (*Sweep, error) {
	var s Sweep
	err := db.view(ctx, func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bSweeps), []byte(id), &s)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get sweep %s: %w", id, err)
	}
	return &s, nil
}

// ListSweeps returns every sweep, oldest first.
func (db *DB) ListSweeps(ctx context.Context) ([]Sweep, error) {
	var out []Sweep
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bSweeps)
		return b.ForEach(func(k, _ []byte) error {
			var s Sweep
			if _, err := getJSON(b, k, &s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list sweeps: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Started.Equal(out[j].Started) {
			return out[i].Started.Before(out[j].Started)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// SweepStats returns the counts of the sweep's visits by state and of its
// findings. It reads one record, whatever the size of the queue. A sweep
// that was never created and has no visits is an error wrapping
// ErrNotFound.
func (db *DB) SweepStats(ctx context.Context, sweep string) (Stats, error) {
	var st Stats
	err := db.view(ctx, func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bSweepStats), []byte(sweep), &st)
		if err != nil || ok {
			return err
		}
		if tx.Bucket(bSweeps).Get([]byte(sweep)) == nil {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return Stats{}, fmt.Errorf("sweep stats %s: %w", sweep, err)
	}
	return st, nil
}

// stats returns the pending counter changes of sweep in this transaction.
func (x *txn) stats(sweep string) *Stats {
	if x.deltas == nil {
		x.deltas = map[string]*Stats{}
	}
	d := x.deltas[sweep]
	if d == nil {
		d = &Stats{}
		x.deltas[sweep] = d
	}
	return d
}

// move counts one visit of sweep leaving state from (none when empty) for
// state to.
func (x *txn) move(sweep string, from, to shopwatch.VisitState) {
	d := x.stats(sweep)
	d.add(from, -1)
	d.add(to, +1)
}

// add adds n to the count of state; an empty state counts nothing.
func (s *Stats) add(state shopwatch.VisitState, n int) {
	switch state {
	case shopwatch.VisitPending:
		s.Pending += n
	case shopwatch.VisitLeased:
		s.Leased += n
	case shopwatch.VisitDone:
		s.Done += n
	case shopwatch.VisitFailed:
		s.Failed += n
	}
}

// flushStats adds the transaction's counter changes to the stored counters.
func (x *txn) flushStats() error {
	b := x.tx.Bucket(bSweepStats)
	for _, sweep := range sortedKeys(x.deltas) {
		d := x.deltas[sweep]
		if *d == (Stats{}) {
			continue
		}
		var st Stats
		if _, err := getJSON(b, []byte(sweep), &st); err != nil {
			return err
		}
		st.Pending += d.Pending
		st.Leased += d.Leased
		st.Done += d.Done
		st.Failed += d.Failed
		st.Findings += d.Findings
		if err := putJSON(b, []byte(sweep), &st); err != nil {
			return err
		}
		if err := x.markFinished(sweep, st.Pending+st.Leased == 0 && st.Visits() > 0); err != nil {
			return err
		}
	}
	return nil
}

// markFinished records when sweep ran out of work (finished), or clears
// that when it has work again.
func (x *txn) markFinished(sweep string, finished bool) error {
	b := x.tx.Bucket(bSweeps)
	var s Sweep
	ok, err := getJSON(b, []byte(sweep), &s)
	if err != nil || !ok {
		return err
	}
	switch {
	case finished && s.Finished.IsZero():
		s.Finished = x.now
	case !finished && !s.Finished.IsZero():
		s.Finished = time.Time{}
	default:
		return nil
	}
	return putJSON(b, []byte(sweep), &s)
}
