package sweep_test

import (
	"context"
	"encoding/json"
	"image/png"
	"io"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/crawler"
	"shopwatch/db"
	"shopwatch/evidence"
	"shopwatch/evidence/warc/warctest"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
)

// TestSweepWatchesLivestreamsAndPhones sweeps two JavaScript livestream
// rooms and one product page asked for as a phone: the rooms are watched
// for their programme, so every claim said on screen is found with the time
// it was there, and their evidence keeps the timeline and timed
// screenshots; the phone page is rendered 390 CSS pixels wide at scale 3.
func TestSweepWatchesLivestreamsAndPhones(t *testing.T) {
	g, live, base, _ := newLiveRig(t)
	ctx := context.Background()
	g.runner.Config.Workers = 3

	var ts []shopwatch.Target
	var longest time.Duration
	want := map[string]bool{}
	rooms := map[string]bool{}
	phone := ""
	_ = live.Truth(base, func(pt marketsim.PageTruth) error {
		switch {
		case pt.Kind == shopwatch.KindLivestream && len(pt.Expect) > 0 && len(rooms) < 2:
			rooms[pt.URL] = true
			longest = max(longest, time.Duration(pt.ProgrammeMS/int64(pt.Speed))*time.Millisecond)
			ts = append(ts, shopwatch.Target{ID: "t-" + pt.URL, URL: pt.URL, Kind: pt.Kind, Category: pt.Category, Browser: true})
		case pt.Kind == shopwatch.KindProduct && len(pt.Expect) > 0 && phone == "":
			phone = pt.URL
			ts = append(ts, shopwatch.Target{ID: "t-" + pt.URL, URL: pt.URL, Kind: pt.Kind, Category: pt.Category, Mobile: true})
		default:
			return nil
		}
		for _, e := range pt.Expect {
			want[pt.URL+"|"+e.Rule+"|"+e.Match] = true
		}
		return nil
	})
	if len(rooms) != 2 || phone == "" {
		t.Fatalf("market lacks violating rooms (%d) or a product page (%q)", len(rooms), phone)
	}
	g.runner.Config.Live = crawler.WatchOptions{Window: longest + 5*time.Second, SnapshotEvery: time.Second,
		EndSelector: "#room[data-state=ended]"}

	sweepID, err := g.db.CreateSweep(ctx, "live")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.runner.Plan(ctx, sweepID, ts); err != nil {
		t.Fatal(err)
	}
	sum, err := g.runner.Run(ctx, sweepID)
	if err != nil || sum.Done != len(ts) || sum.Failed != 0 {
		t.Fatalf("sweep: %+v, %v", sum, err)
	}
	found, err := g.db.ListFindings(ctx, db.Filter{Sweep: sweepID})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range found {
		k := f.URL + "|" + f.Rule + "|" + f.Match
		got[k] = true
		if !want[k] {
			t.Errorf("unexpected finding %s", k)
		}
		if rooms[f.URL] && (f.SeenFrom.IsZero() || f.SeenUntil.Before(f.SeenFrom)) {
			t.Errorf("room finding %s has no on-screen window", k)
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("missed %s", k)
		}
	}

	recs, err := g.db.ListEvidence(ctx)
	if err != nil {
		t.Fatal(err)
	}
	checkWARCs(t, g, recs)
	for _, r := range recs {
		names := map[string]string{}
		for _, a := range r.Artifacts {
			names[a.Name] = a.Key
		}
		switch {
		case rooms[r.URL]:
			if names["timeline.json"] == "" || names["snapshots/001.png"] == "" || names["snapshots/002.png"] == "" {
				t.Errorf("room evidence %s lacks the timeline or timed screenshots: %v", r.ID, names)
				continue
			}
			var tl []shopwatch.TimedText
			if err := json.Unmarshal(read(t, g, names["timeline.json"]), &tl); err != nil || len(tl) == 0 {
				t.Errorf("timeline.json of %s: %d entries, %v", r.ID, len(tl), err)
			}
		case r.URL == phone:
			cfg, err := png.DecodeConfig(strings.NewReader(string(read(t, g, names["screenshot.png"]))))
			if err != nil || cfg.Width != 390*3 {
				t.Errorf("phone screenshot %d px wide (%v), want %d", cfg.Width, err, 390*3)
			}
			var md struct{ Mobile bool }
			if err := json.Unmarshal(read(t, g, names["metadata.json"]), &md); err != nil || !md.Mobile {
				t.Errorf("metadata.json of the phone page: mobile %v, %v", md.Mobile, err)
			}
		}
	}
}

// checkWARCs reads the WARC file of every evidence record with gowarc in
// strict mode (evidence/warc/warctest): the rendered pages' exchanges,
// resources, snapshots and timelines as an independent reader sees them.
func checkWARCs(t *testing.T, g *rig, recs []shopwatch.EvidenceRecord) {
	t.Helper()
	for _, r := range recs {
		key := ""
		for _, a := range r.Artifacts {
			if a.Name == evidence.WARCFile {
				key = a.Key
			}
		}
		if key == "" {
			t.Errorf("evidence %s has no %s", r.ID, evidence.WARCFile)
			continue
		}
		if _, err := warctest.Read(read(t, g, key)); err != nil {
			t.Errorf("evidence %s of %s: %v", r.ID, r.URL, err)
		}
	}
}

func read(t *testing.T, g *rig, key string) []byte {
	t.Helper()
	rc, err := g.store.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// TestSweepRendersScriptPagesAutomatically sweeps targets that did not ask
// for the browser: the static fetch of a JavaScript room shows it needs
// scripts, so the room is rendered (and watched) and its claims found,
// while static pages never reach the browser.
func TestSweepRendersScriptPagesAutomatically(t *testing.T) {
	g, live, base, lb := newLiveRig(t)
	ctx := context.Background()
	g.runner.Config.AutoBrowser = true

	var ts []shopwatch.Target
	var room marketsim.PageTruth
	products := 0
	_ = live.Truth(base, func(pt marketsim.PageTruth) error {
		switch {
		case pt.Kind == shopwatch.KindLivestream && len(pt.Expect) > 0 && room.URL == "":
			room = pt
		case pt.Kind == shopwatch.KindProduct && len(pt.Expect) > 0 && products < 2:
			products++
		default:
			return nil
		}
		ts = append(ts, shopwatch.Target{ID: "t-" + pt.URL, URL: pt.URL, Kind: pt.Kind, Category: pt.Category})
		return nil
	})
	if room.URL == "" || products != 2 {
		t.Fatal("market lacks a violating room or product pages")
	}
	g.runner.Config.Live = crawler.WatchOptions{Window: time.Duration(room.ProgrammeMS/int64(room.Speed))*time.Millisecond + 5*time.Second,
		SnapshotEvery: time.Second, EndSelector: "#room[data-state=ended]"}
	sweepID, err := g.db.CreateSweep(ctx, "auto")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.runner.Plan(ctx, sweepID, ts); err != nil {
		t.Fatal(err)
	}
	if sum, err := g.runner.Run(ctx, sweepID); err != nil || sum.Done != len(ts) {
		t.Fatalf("sweep: %+v, %v", sum, err)
	}
	found, err := g.db.ListFindings(ctx, db.Filter{Sweep: sweepID})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range found {
		got[f.URL+"|"+f.Rule+"|"+f.Match] = true
	}
	for _, e := range room.Expect {
		if !got[room.URL+"|"+e.Rule+"|"+e.Match] {
			t.Errorf("room %s: missed %s %q", room.URL, e.Rule, e.Match)
		}
	}
	// Static pages reach the browser only to screenshot their captured
	// response (one per product page with findings), fetching nothing.
	if st := lb.Stats(); st.Renders-st.Replays != 1 || st.Replays != int64(products) {
		t.Errorf("%d browser renders, %d of them replays; want the room rendered and %d static pages replayed", st.Renders, st.Replays, products)
	}
}

// newLiveRig returns a rig whose runner has a browser, and a market whose
// livestream rooms draw their text with JavaScript, ten times faster than
// real time, served on loopback.
func newLiveRig(t *testing.T) (*rig, *marketsim.Market, string, *crawler.LazyBrowser) {
	t.Helper()
	chromium := testparts.Chromium(t)
	g := newRig(t, 1, nil)
	live := marketsim.New(marketsim.Config{Seed: 7, Shops: 40, LiveJS: true, LiveSpeed: 10})
	base := marketsim.ServeFor(t, live)
	lb := g.withBrowser(t, chromium)
	return g, live, base, lb
}
