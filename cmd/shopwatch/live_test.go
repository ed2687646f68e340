package main

import (
	"encoding/json"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/internal/testparts"
	"shopwatch/marketsim"
)

// liveMarket serves a market whose livestream rooms draw their text with
// JavaScript over time (ten times faster than real time).
func liveMarket(t *testing.T, shops int) (*marketsim.Market, string) {
	t.Helper()
	m := marketsim.New(marketsim.Config{Seed: 11, Shops: shops, LiveJS: true, LiveSpeed: 10})
	return m, marketsim.ServeFor(t, m)
}

// TestScanWatchesLivestream watches a JavaScript room with scan --watch:
// every claim the room's programme says is found, each with the time it
// was on screen, while a one-shot static scan of the same page sees none.
func TestScanWatchesLivestream(t *testing.T) {
	testparts.Chromium(t)
	m, base := liveMarket(t, 40)
	var room marketsim.PageTruth
	_ = m.Truth(base, func(pt marketsim.PageTruth) error {
		if room.URL == "" && pt.Kind == shopwatch.KindLivestream && len(pt.Expect) > 0 {
			room = pt
		}
		return nil
	})
	if room.URL == "" {
		t.Fatal("market has no livestream room with a violation")
	}
	window := time.Duration(room.ProgrammeMS/int64(room.Speed))*time.Millisecond + 3*time.Second
	var fs []shopwatch.Finding
	out := mustSW(t, "scan", room.URL, "--watch", window.String(), "--until", "#room[data-state=ended]",
		"--category", room.Category, "--json", "--allow-private")
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	got := map[string]bool{}
	for _, f := range fs {
		got[f.Rule+"\x00"+f.Match] = true
		if f.SeenFrom.IsZero() || f.SeenUntil.Before(f.SeenFrom) {
			t.Errorf("finding %s %q has no on-screen window: %v – %v", f.Rule, f.Match, f.SeenFrom, f.SeenUntil)
		}
	}
	for _, e := range room.Expect {
		if !got[e.Rule+"\x00"+e.Match] {
			t.Errorf("watching %s missed %s %q (truth window %+v); found %+v", room.URL, e.Rule, e.Match, e.Window, fs)
		}
	}

	// The static path sees only the room's skeleton.
	var static []shopwatch.Finding
	if err := json.Unmarshal([]byte(mustSW(t, "scan", room.URL, "--kind", "livestream", "--category", room.Category, "--json", "--allow-private")), &static); err != nil {
		t.Fatal(err)
	}
	for _, f := range static {
		for _, e := range room.Expect {
			if f.Rule == e.Rule && f.Match == e.Match {
				t.Errorf("a static scan found %s %q, which only the running programme shows", f.Rule, f.Match)
			}
		}
	}
}
