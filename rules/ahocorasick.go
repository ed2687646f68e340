package rules

// automaton is a byte-level Aho–Corasick matcher compiled to a dense DFA.
//
// Bytes are mapped to classes first: every byte that occurs in some pattern
// has its own class and all other bytes share one, so a row of the
// transition table is as wide as the patterns' alphabet, not 256. Failure
// links are resolved at build time, so scanning is one table load per input
// byte with no branches on failure. States are renumbered so that the states
// at which some pattern ends come last: "does this state report a match" is
// one comparison. Transition targets are stored premultiplied by the row
// width. Scanning allocates nothing beyond appending to the caller's slice.
//
// UTF-8 patterns only ever match on character boundaries of valid UTF-8
// text, so the automaton needs no knowledge of runes.
type automaton struct {
	classes  [256]uint8
	width    int32   // classes per row
	trans    []int32 // trans[state*width+class] = next state * width
	firstOut int32   // first state (premultiplied) with outputs
	outStart []int32 // per output state (state - firstOut/width): start in outs; one extra at the end
	outs     []int32 // pattern ids ending at each output state, longest first
	lens     []int32 // byte length of each pattern
}

// acHit is one pattern occurrence: pattern id and end offset (exclusive).
type acHit struct {
	pat int32
	end int32
}

// newAutomaton builds the automaton for pats. Pattern i is reported as id i.
// Patterns must be non-empty; duplicates are reported once each under every
// id that holds them.
func newAutomaton(pats []string) *automaton {
	a := &automaton{lens: make([]int32, len(pats))}
	var used [256]bool
	for i, p := range pats {
		a.lens[i] = int32(len(p))
		for j := 0; j < len(p); j++ {
			used[p[j]] = true
		}
	}
	nUsed := 0
	for _, u := range used {
		if u {
			nUsed++
		}
	}
	next := uint8(0)
	if nUsed < 256 {
		next = 1 // class 0 is every byte no pattern uses
	}
	for c, u := range used {
		if u {
			a.classes[c] = next
			next++
		}
	}
	width := nUsed
	if nUsed < 256 {
		width++
	}
	a.width = int32(width)

	// Trie, with -1 for missing edges.
	trans := make([]int32, width)
	for i := range trans {
		trans[i] = -1
	}
	own := [][]int32{nil}
	for id, p := range pats {
		s := int32(0)
		for j := 0; j < len(p); j++ {
			c := int32(a.classes[p[j]])
			t := trans[s*int32(width)+c]
			if t < 0 {
				t = int32(len(own))
				own = append(own, nil)
				for range width {
					trans = append(trans, -1)
				}
				trans[s*int32(width)+c] = t
			}
			s = t
		}
		own[s] = append(own[s], int32(id))
	}
	n := len(own)

	// Breadth-first: failure links, full transitions and output lists
	// (a state's own patterns, then those of its failure state, which are
	// shorter suffixes).
	fail := make([]int32, n)
	outs := make([][]int32, n)
	order := make([]int32, 0, n)
	order = append(order, 0)
	for c := range width {
		if t := trans[c]; t < 0 {
			trans[c] = 0
		} else {
			fail[t] = 0
			order = append(order, t)
		}
	}
	outs[0] = own[0]
	for q := 1; q < len(order); q++ {
		s := order[q]
		outs[s] = append(append([]int32(nil), own[s]...), outs[fail[s]]...)
		row := s * int32(width)
		frow := fail[s] * int32(width)
		for c := range int32(width) {
			if t := trans[row+c]; t < 0 {
				trans[row+c] = trans[frow+c]
			} else {
				fail[t] = trans[frow+c]
				order = append(order, t)
			}
		}
	}

	// Renumber: states without outputs first (root stays 0), then the rest.
	newID := make([]int32, n)
	k := int32(0)
	for _, s := range order {
		if len(outs[s]) == 0 {
			newID[s] = k
			k++
		}
	}
	first := k
	for _, s := range order {
		if len(outs[s]) > 0 {
			newID[s] = k
			k++
		}
	}
	a.trans = make([]int32, len(trans))
	a.outStart = make([]int32, 0, n-int(first)+1)
	byNew := make([]int32, n)
	for old, nw := range newID {
		byNew[nw] = int32(old)
	}
	for nw := range int32(n) {
		old := byNew[nw]
		for c := range int32(width) {
			a.trans[nw*int32(width)+c] = newID[trans[old*int32(width)+c]] * int32(width)
		}
		if nw >= first {
			a.outStart = append(a.outStart, int32(len(a.outs)))
			a.outs = append(a.outs, outs[old]...)
		}
	}
	a.outStart = append(a.outStart, int32(len(a.outs)))
	a.firstOut = first * int32(width)
	return a
}

// scan appends every occurrence of every pattern in text to hits, in order
// of end offset (for one end offset, longer patterns first).
func (a *automaton) scan(text []byte, hits []acHit) []acHit {
	trans := a.trans
	classes := &a.classes
	first := a.firstOut
	s := int32(0)
	for i, c := range text {
		s = trans[s+int32(classes[c])]
		if s >= first {
			st := (s - first) / a.width
			for _, p := range a.outs[a.outStart[st]:a.outStart[st+1]] {
				hits = append(hits, acHit{pat: p, end: int32(i + 1)})
			}
		}
	}
	return hits
}

// size returns the number of states, for benchmarks and diagnostics.
func (a *automaton) size() int { return len(a.trans) / int(a.width) }
