package db

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"shopwatch"
)

func TestOpenSecondHandleGetsLockedError(t *testing.T) {
	_, path := newTestDB(t)
	start := time.Now()
	_, err := Open(path, WithLockTimeout(150*time.Millisecond))
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: got %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "database is locked by another process") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not say the file is locked or name %s", err, path)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("second open took %s, want it to give up after about 150ms", el)
	}
}

func TestOpenRejectsForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("open of a foreign file: got %v, want an error naming %s", err, path)
	}
}

func TestCloseTwice(t *testing.T) {
	d, _ := newTestDB(t)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestNormalizeURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"https://shop.example.com", "https://shop.example.com/"},
		{"  HTTPS://Shop.Example.COM:443/a/B?x=1#top ", "https://shop.example.com/a/B?x=1"},
		{"http://shop.example.com:80/", "http://shop.example.com/"},
		{"http://shop.example.com:8080/", "http://shop.example.com:8080/"},
		{"https://shop.example.com.:8443/x", "https://shop.example.com:8443/x"},
		{"http://127.0.0.1:4000/shop/1/", "http://127.0.0.1:4000/shop/1/"},
		{"http://[::1]:80/live/3", "http://[::1]/live/3"},
		{"http://例子.中国/店铺", "http://xn--fsqu00a.xn--fiqs8s/%E5%BA%97%E9%93%BA"},
	} {
		got, err := NormalizeURL(c.in)
		if err != nil {
			t.Errorf("NormalizeURL(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, in := range []string{"", "shop.example.com/x", "/shop/1", "ftp://example.com/", "mailto:a@example.com", "http:///path", "http://%zz/"} {
		_, err := NormalizeURL(in)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("NormalizeURL(%q): got %v, want ErrInvalid", in, err)
			continue
		}
		if in != "" && !strings.Contains(err.Error(), in) {
			t.Errorf("NormalizeURL(%q): error %q does not name the input", in, err)
		}
	}
}

func TestVisitIDIsDeterministic(t *testing.T) {
	a := VisitID("s-1", "https://Shop.example.com/item/1#reviews")
	b := VisitID("s-1", "https://shop.example.com/item/1")
	if a != b {
		t.Errorf("same page, different ids: %s %s", a, b)
	}
	if !strings.HasPrefix(a, "v-") || len(a) != 26 {
		t.Errorf("id %q: want v- and 24 hex digits", a)
	}
	if c := VisitID("s-2", "https://shop.example.com/item/1"); c == a {
		t.Errorf("different sweeps share visit id %s", c)
	}
	if c := VisitID("s-1", "https://shop.example.com/item/2"); c == a {
		t.Errorf("different pages share visit id %s", c)
	}
}

func TestTargets(t *testing.T) {
	d, _ := newTestDB(t, WithClock(newClock().Now))
	ctx := WithActor(context.Background(), "inspector-li")

	low := shopwatch.Target{URL: "https://shop.example.com/a", Kind: shopwatch.KindStorefront, Priority: 1}
	if err := d.AddTarget(ctx, &low); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(low.ID, "t-") || len(low.ID) < 6 {
		t.Errorf("assigned id %q, want t- and a short id", low.ID)
	}
	if low.Added.IsZero() {
		t.Error("Added not set")
	}
	high := shopwatch.Target{URL: "https://shop.example.com/b", Kind: shopwatch.KindProduct, Priority: 5, Added: low.Added.Add(time.Second)}
	mid1 := shopwatch.Target{ID: "mine", URL: "https://live.example.com/room/9", Kind: shopwatch.KindLivestream, Priority: 3, Added: low.Added.Add(2 * time.Second)}
	mid2 := shopwatch.Target{URL: "https://shop.example.com/c", Kind: shopwatch.KindProduct, Priority: 3, Added: low.Added.Add(3 * time.Second)}
	for _, x := range []*shopwatch.Target{&high, &mid2, &mid1} {
		if err := d.AddTarget(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	if mid1.ID != "mine" {
		t.Errorf("given id replaced with %q", mid1.ID)
	}

	// The same page spelt differently is refused, naming the URL.
	dup := shopwatch.Target{URL: "HTTPS://SHOP.example.com:443/a#reviews", Kind: shopwatch.KindStorefront}
	err := d.AddTarget(ctx, &dup)
	wantErr(t, err, ErrTargetExists)
	if !strings.Contains(err.Error(), dup.URL) || !strings.Contains(err.Error(), low.ID) {
		t.Errorf("duplicate error %q does not name the URL and the stored target", err)
	}
	taken := shopwatch.Target{ID: "mine", URL: "https://other.example.com/", Kind: shopwatch.KindStorefront}
	wantErr(t, d.AddTarget(ctx, &taken), ErrTargetExists)

	for _, bad := range []shopwatch.Target{
		{URL: "shop.example.com/x", Kind: shopwatch.KindStorefront},
		{URL: "ftp://shop.example.com/x", Kind: shopwatch.KindStorefront},
		{URL: "https://shop.example.com/x", Kind: "shop"},
		{URL: "https://shop.example.com/x", Kind: shopwatch.KindStorefront, Depth: -1},
	} {
		err := d.AddTarget(ctx, &bad)
		wantErr(t, err, ErrInvalid)
		if !strings.Contains(err.Error(), bad.URL) {
			t.Errorf("error %q does not name %s", err, bad.URL)
		}
	}

	ts, err := d.ListTargets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range ts {
		got = append(got, x.ID)
	}
	if want := []string{high.ID, mid1.ID, mid2.ID, low.ID}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ListTargets order %v, want %v (priority desc, then added)", got, want)
	}

	g, err := d.GetTarget(ctx, mid2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g.URL != mid2.URL || g.Priority != 3 || g.Kind != shopwatch.KindProduct {
		t.Errorf("GetTarget = %+v, want %+v", g, mid2)
	}
	_, err = d.GetTarget(ctx, "t-none")
	wantErr(t, err, ErrNotFound)

	if err := d.DeleteTarget(ctx, low.ID); err != nil {
		t.Fatal(err)
	}
	wantErr(t, d.DeleteTarget(ctx, low.ID), ErrNotFound)
	again := shopwatch.Target{URL: "https://shop.example.com/a", Kind: shopwatch.KindStorefront}
	if err := d.AddTarget(ctx, &again); err != nil {
		t.Fatalf("re-adding a deleted target's URL: %v", err)
	}

	es, err := d.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range es {
		if e.Actor != "inspector-li" {
			t.Errorf("audit entry %d by %q, want inspector-li", e.Seq, e.Actor)
		}
		actions = append(actions, e.Action)
	}
	want := "target.added target.added target.added target.added target.deleted target.added"
	if strings.Join(actions, " ") != want {
		t.Errorf("audit actions %v, want %s", actions, want)
	}
}

func TestSweeps(t *testing.T) {
	c := newClock()
	d, _ := newTestDB(t, WithClock(c.Now))
	ctx := context.Background()
	a, err := d.CreateSweep(ctx, "spring festival")
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Hour)
	b, err := d.CreateSweep(ctx, "daily")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a, "s-20260315T090000-") || a == b {
		t.Errorf("sweep ids %q %q", a, b)
	}
	st, err := d.SweepStats(ctx, a)
	if err != nil || st != (Stats{}) {
		t.Errorf("stats of an empty sweep: %+v, %v", st, err)
	}
	_, err = d.SweepStats(ctx, "s-none")
	wantErr(t, err, ErrNotFound)

	// A sweep named only by its visits is recorded too.
	mustEnqueue(t, d, visit("s-implicit", "https://shop.example.com/", 0))
	ss, err := d.ListSweeps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 3 || ss[0].ID != a || ss[0].Name != "spring festival" || ss[1].ID != b || ss[2].ID != "s-implicit" {
		t.Errorf("ListSweeps = %+v", ss)
	}
	if got := mustStats(t, d, "s-implicit"); got.Pending != 1 {
		t.Errorf("stats %+v, want 1 pending", got)
	}
	if !strings.HasPrefix(NewSweepID(), "s-") {
		t.Error("NewSweepID without s- prefix")
	}
}

func TestMarkSwept(t *testing.T) {
	d, _ := newTestDB(t)
	ctx := context.Background()
	a := shopwatch.Target{URL: "http://127.0.0.1:9/a/", Kind: shopwatch.KindStorefront}
	b := shopwatch.Target{URL: "http://127.0.0.1:9/b/", Kind: shopwatch.KindStorefront}
	for _, x := range []*shopwatch.Target{&a, &b} {
		if err := d.AddTarget(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Date(2026, 11, 11, 0, 30, 0, 0, time.UTC)
	if err := d.MarkSwept(ctx, []string{a.ID}, at); err != nil {
		t.Fatal(err)
	}
	ga, _ := d.GetTarget(ctx, a.ID)
	gb, _ := d.GetTarget(ctx, b.ID)
	if !ga.LastSwept.Equal(at) || !gb.LastSwept.IsZero() {
		t.Errorf("last swept: a %v, b %v", ga.LastSwept, gb.LastSwept)
	}
	if err := d.MarkSwept(ctx, []string{b.ID, "t-missing"}, at); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if gb, _ := d.GetTarget(ctx, b.ID); !gb.LastSwept.IsZero() {
		t.Error("a failed MarkSwept wrote a target")
	}
}
