package rules

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// naiveHits lists every occurrence of every pattern, as the automaton
// should, by brute force.
func naiveHits(pats []string, text string) []acHit {
	var out []acHit
	for end := 1; end <= len(text); end++ {
		for id, p := range pats {
			if len(p) <= end && text[end-len(p):end] == p {
				out = append(out, acHit{pat: int32(id), end: int32(end)})
			}
		}
	}
	return out
}

func sortHits(h []acHit) {
	slices.SortFunc(h, func(a, b acHit) int {
		if a.end != b.end {
			return int(a.end - b.end)
		}
		return int(a.pat - b.pat)
	})
}

func TestAutomatonMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	pieces := []string{"a", "b", "ab", "第", "一", "最", "佳", "次", "x"}
	gen := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for iter := 0; iter < 500; iter++ {
		var pats []string
		for range 1 + rng.IntN(8) {
			pats = append(pats, gen(1+rng.IntN(3)))
		}
		text := gen(rng.IntN(40))
		a := newAutomaton(pats)
		got := a.scan([]byte(text), nil)
		want := naiveHits(pats, text)
		sortHits(got)
		sortHits(want)
		if !slices.Equal(got, want) {
			t.Fatalf("patterns %q text %q:\ngot  %v\nwant %v", pats, text, got, want)
		}
	}
}

func TestAutomatonAllBytes(t *testing.T) {
	// Patterns using every byte value leave no spare class.
	var pats []string
	for c := 0; c < 256; c++ {
		pats = append(pats, string([]byte{byte(c), byte(255 - c)}))
	}
	a := newAutomaton(pats)
	text := []byte{0, 255, 0, 7, 248, 1}
	got := a.scan(text, nil)
	want := naiveHits(pats, string(text))
	sortHits(got)
	sortHits(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestAutomatonScanDoesNotAllocate(t *testing.T) {
	a := newAutomaton([]string{"最佳", "第一", "第一次", "no.1"})
	text := []byte(strings.Repeat("全网最佳口碑，第一次使用 no.1 ", 100))
	hits := make([]acHit, 0, 1024)
	allocs := testing.AllocsPerRun(20, func() { hits = a.scan(text, hits[:0]) })
	if allocs != 0 {
		t.Errorf("scan allocates %v times per run, want 0", allocs)
	}
	if len(hits) != 400 {
		t.Errorf("got %d hits, want 400", len(hits))
	}
}

// scanSorted finds what scan finds, in order of end offset.
func TestScanSorted(t *testing.T) {
	pats := []string{"最佳", "佳", "第一", "no.1", "最", "a", "ab", "bab"}
	a := newAutomaton(pats)
	text := []byte(strings.Repeat("最佳第一 no.1 abab 最最佳佳 ", 2000))
	want := a.scan(text, nil)
	var bufs [3][]acHit
	got := a.scanSorted(text, nil, &bufs)
	if !slices.IsSortedFunc(got, func(x, y acHit) int { return cmp.Compare(x.end, y.end) }) {
		t.Fatal("scanSorted: hits not in order of end")
	}
	key := func(h acHit) int64 { return int64(h.end)<<8 | int64(h.pat) }
	ws, gs := make([]int64, len(want)), make([]int64, len(got))
	for i, h := range want {
		ws[i] = key(h)
	}
	for i, h := range got {
		gs[i] = key(h)
	}
	slices.Sort(ws)
	slices.Sort(gs)
	if !slices.Equal(ws, gs) || len(got) == 0 {
		t.Fatalf("scanSorted found %d hits, scan %d", len(got), len(want))
	}
}
