package db

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// AddTarget stores t. An empty t.ID is filled with "t-" and a short random
// id, a zero t.Added with the current time; t is updated in place once the
// target is stored. The URL must be an absolute http or https URL and the
// kind one of storefront, product or livestream.
//
// A target whose URL normalises (see NormalizeURL) to that of a stored
// target, or whose ID is taken, is refused with an error wrapping
// ErrTargetExists that names the URL and the stored target's id.
func (db *DB) AddTarget(ctx context.Context, t *shopwatch.Target) error {
	if t == nil {
		return fmt.Errorf("add target: %w: nil target", ErrInvalid)
	}
	rec := *t
	rec.URL = strings.TrimSpace(rec.URL)
	norm, err := NormalizeURL(rec.URL)
	if err != nil {
		return fmt.Errorf("add target %q: %w", t.URL, err)
	}
	if !validKind(rec.Kind) {
		return fmt.Errorf("add target %s: %w: kind %q (want storefront, product or livestream)", rec.URL, ErrInvalid, rec.Kind)
	}
	if rec.Depth < 0 {
		return fmt.Errorf("add target %s: %w: negative depth %d", rec.URL, ErrInvalid, rec.Depth)
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
		if norm, err := NormalizeURL(ref); err == nil && strings.Contains(ref, "://") {
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

// ListTargets returns every target, highest priority first, then in the
// order they were added.
func (db *DB) ListTargets(ctx context.Context) ([]shopwatch.Target, error) {
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
// wrapping ErrNotFound. Visits already queued for it are left alone.
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
		if norm, err := NormalizeURL(t.URL); err == nil {
			urls := x.tx.Bucket(bTargetURLs)
			if string(urls.Get([]byte(norm))) == id {
				if err := urls.Delete([]byte(norm)); err != nil {
					return err
				}
			}
		}
		return x.audit("target.deleted", fmt.Sprintf("target %s %s", id, t.URL))
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
