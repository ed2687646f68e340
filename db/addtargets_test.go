package db

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"shopwatch"
)

func TestAddTargets(t *testing.T) {
	d, _ := newTestDB(t, WithClock(newClock().Now))
	ctx := WithActor(context.Background(), "inspector-li")
	old := shopwatch.Target{URL: "https://shop.example.com/a", Kind: shopwatch.KindStorefront}
	if err := d.AddTarget(ctx, &old); err != nil {
		t.Fatal(err)
	}
	n := 2*addTargetsProgressEvery + 500
	ts := importRows(n)
	ts[7] = shopwatch.Target{URL: " HTTPS://SHOP.example.com:443/a#top ", Kind: shopwatch.KindProduct} // stored already
	ts[9].ID = "mine"
	var calls []int
	existing, err := d.AddTargets(ctx, ts, func(done int) { calls = append(calls, done) })
	if err != nil {
		t.Fatal(err)
	}
	if len(existing) != 1 || existing[0].Index != 7 || existing[0].ID != old.ID || existing[0].URL != "https://shop.example.com/a" {
		t.Errorf("existing = %+v, want index 7 as %s", existing, old.ID)
	}
	if ts[7].ID != "" || ts[7].URL != " HTTPS://SHOP.example.com:443/a#top " {
		t.Errorf("skipped target changed to %+v", ts[7])
	}
	if ts[9].ID != "mine" {
		t.Errorf("given id replaced with %q", ts[9].ID)
	}
	ids := map[string]bool{}
	for i, tg := range ts {
		if i == 7 {
			continue
		}
		if !strings.HasPrefix(tg.ID, "t-") && tg.ID != "mine" || ids[tg.ID] || tg.Added.IsZero() {
			t.Fatalf("target %d stored as %+v (id assigned twice: %v)", i, tg, ids[tg.ID])
		}
		ids[tg.ID] = true
	}
	for i := 1; i < len(calls); i++ {
		if calls[i] < calls[i-1] {
			t.Errorf("progress went back: %v", calls)
		}
	}
	if len(calls) < 3 || calls[len(calls)-1] != n {
		t.Errorf("progress calls %v, want several ending at %d", calls, n)
	}

	stored, err := d.ListTargets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != n {
		t.Fatalf("%d targets stored, want %d", len(stored), n)
	}
	g, err := d.GetTarget(ctx, ts[42].ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.URL != ts[42].URL || g.Priority != ts[42].Priority || strings.Join(g.Tags, ",") != "618,imported" || !g.Added.Equal(ts[42].Added) {
		t.Errorf("GetTarget = %+v, want %+v", g, ts[42])
	}

	// One audit entry per stored target, in the order given, by the actor.
	es, err := d.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != n {
		t.Fatalf("%d audit entries, want %d", len(es), n)
	}
	for i, e := range es[1:] {
		j := i
		if j >= 7 {
			j++
		}
		if e.Action != "target.added" || e.Actor != "inspector-li" || !strings.Contains(e.Detail, ts[j].ID+" "+ts[j].URL+" ") {
			t.Fatalf("audit entry %d = %+v, want target.added of %s", e.Seq, e, ts[j].ID)
		}
	}

	// The same list again adds nothing and reports every target as present.
	again := importRows(n)
	again[7] = old
	existing, err = d.AddTargets(ctx, again, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(existing) != n || auditCount(t, d) != n {
		t.Errorf("second import: %d reported present, %d audit entries; want %d and %d", len(existing), auditCount(t, d), n, n)
	}
}

func TestAddTargetsRefusesAllOrNothing(t *testing.T) {
	ctx := context.Background()
	d, _ := newTestDB(t)
	taken := shopwatch.Target{ID: "taken", URL: "https://shop.example.com/taken", Kind: shopwatch.KindStorefront}
	if err := d.AddTarget(ctx, &taken); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		edit   func(ts []shopwatch.Target)
		target error
		want   []string // each must appear in the error
	}{
		{"invalid", func(ts []shopwatch.Target) {
			ts[3].URL = "shop.example.com/x"
			ts[5].Kind = "shop"
			ts[8].Depth = -1
		}, ErrInvalid, []string{"target 3:", "shop.example.com/x", "target 5:", `kind "shop"`, "target 8:", "negative depth", "3 refused"}},
		{"same URL twice", func(ts []shopwatch.Target) {
			ts[6].URL = strings.ToUpper(ts[2].URL[:8]) + ts[2].URL[8:] + "#reviews"
		}, ErrTargetExists, []string{"target 6:", "target 2 too"}},
		{"same id twice", func(ts []shopwatch.Target) {
			ts[1].ID, ts[4].ID = "dup", "dup"
		}, ErrTargetExists, []string{"target 4:", "id dup is target 1's too"}},
		{"id taken", func(ts []shopwatch.Target) {
			ts[2].ID = "taken"
		}, ErrTargetExists, []string{"target 2:", "id taken is taken"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := importRows(10)
			tc.edit(ts)
			before := fmt.Sprint(ts)
			existing, err := d.AddTargets(ctx, ts, nil)
			wantErr(t, err, tc.target)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if existing != nil || fmt.Sprint(ts) != before {
				t.Errorf("refused call reported %v and changed its input", existing)
			}
			if got, err := d.ListTargets(ctx); err != nil || len(got) != 1 || auditCount(t, d) != 1 {
				t.Errorf("after a refused call: %d targets (%v), %d audit entries; want 1 and 1", len(got), err, auditCount(t, d))
			}
		})
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err := d.AddTargets(cancelled, importRows(10), nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	if got, _ := d.ListTargets(ctx); len(got) != 1 {
		t.Errorf("a cancelled call stored %d targets", len(got)-1)
	}
}
