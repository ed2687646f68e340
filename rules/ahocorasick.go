package rules

// automaton is a byte-level Aho–Corasick matcher compiled to a dense DFA.
//
// Bytes are mapped to classes first: every byte that occurs in some pattern
// has its own class and all other bytes share one, so a row of the
// transition table is as wide as the patterns' alphabet, not 256. Failure
// links are resolved at build time, so scanning is one table load per input
// byte with no branches on failure. Transition targets are stored as the
// offset of the target's row: state × stride, plus one when some pattern
// ends at the target. The stride is even and wider than a row, and the row
// of such an output state starts one slot later, so the next load needs no
// masking while "does any of these states report a match" is an OR of the
// states and one bit test. States are renumbered so that output states come
// last, which indexes their output lists. Scanning allocates nothing beyond
// appending to the caller's slice.
//
// UTF-8 patterns only ever match on character boundaries of valid UTF-8
// text, so the automaton needs no knowledge of runes.
type automaton struct {
	classes  [256]uint8
	width    int32   // classes per row
	stride   int32   // slots per state in trans: even, at least width+1
	trans    []int32 // trans[row(state)+class] = row(next state), row(s) = s*stride (+1 for an output state)
	firstOut int32   // first state with outputs (not premultiplied)
	outStart []int32 // per output state (state - firstOut): start in outs; one extra at the end
	outs     []int32 // pattern ids ending at each output state, longest first
	lens     []int32 // byte length of each pattern
	maxLen   int     // longest pattern, in bytes
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
	total := 0 // at most this many states besides the root
	for i, p := range pats {
		total += len(p)
		a.lens[i] = int32(len(p))
		a.maxLen = max(a.maxLen, len(p))
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
	trans := make([]int32, width, (total+1)*width)
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
	stride := int32(width + 1)
	if stride%2 != 0 {
		stride++
	}
	a.stride = stride
	row := func(nw int32) int32 {
		if nw >= first {
			return nw*stride + 1
		}
		return nw * stride
	}
	a.trans = make([]int32, int32(n)*stride+1)
	a.outStart = make([]int32, 0, n-int(first)+1)
	byNew := make([]int32, n)
	for old, nw := range newID {
		byNew[nw] = int32(old)
	}
	for nw := range int32(n) {
		old := byNew[nw]
		base := row(nw)
		for c := range int32(width) {
			a.trans[base+c] = row(newID[trans[old*int32(width)+c]])
		}
		if nw >= first {
			a.outStart = append(a.outStart, int32(len(a.outs)))
			a.outs = append(a.outs, outs[old]...)
		}
	}
	a.outStart = append(a.outStart, int32(len(a.outs)))
	a.firstOut = first
	return a
}

// interleaveMin is the shortest text scan splits into streams.
const interleaveMin = 4 << 10

// scan appends every occurrence of every pattern in text to hits. A text
// shorter than interleaveMin is reported in order of end offset (for one
// end offset, longer patterns first); a longer one in no particular order,
// which costs callers that sort their candidates anyway nothing.
//
// A text of interleaveMin bytes or more is cut into four segments that are
// scanned in one loop, one automaton state per segment. The transition of
// each byte waits for the table load of the byte before it; four
// independent chains keep the processor's load units busy while each
// waits, which about triples the throughput of a single chain. Every
// segment after the first starts maxLen-1 bytes early, in the root state,
// and reports only matches that end inside it: a match ending inside a
// segment starts at most maxLen-1 bytes before its start, so each match is
// found exactly once.
func (a *automaton) scan(text []byte, hits []acHit) []acHit {
	return a.scanStreams(text, hits, nil)
}

// scanSorted is scan with the hits of a long text in order too: each
// stream's hits, which come in order, are kept apart (bufs holds those of
// the later three) and joined at the end.
func (a *automaton) scanSorted(text []byte, hits []acHit, bufs *[3][]acHit) []acHit {
	return a.scanStreams(text, hits, bufs)
}

func (a *automaton) scanStreams(text []byte, hits []acHit, bufs *[3][]acHit) []acHit {
	if len(text) < interleaveMin || a.maxLen == 0 {
		_, hits = a.scanRange(text, 0, 0, len(text), 0, hits)
		return hits
	}
	h1, h2, h3 := &hits, &hits, &hits
	if bufs != nil {
		bufs[0], bufs[1], bufs[2] = bufs[0][:0], bufs[1][:0], bufs[2][:0]
		h1, h2, h3 = &bufs[0], &bufs[1], &bufs[2]
	}
	q := len(text) / 4
	ov := a.maxLen - 1
	b1, b2, b3 := q, 2*q, 3*q
	// Stream k scans from lo_k; it reports matches ending after rep_k.
	lo1, lo2, lo3 := max(b1-ov, 0), max(b2-ov, 0), max(b3-ov, 0)
	trans := a.trans
	classes := &a.classes
	var s0, s1, s2, s3 int32
	t0, t1, t2, t3 := text[0:b1], text[lo1:b2], text[lo2:b3], text[lo3:]
	m := min(len(t0), len(t1), len(t2), len(t3))
	t0, t1, t2, t3 = t0[:m], t1[:m], t2[:m], t3[:m]
	for i := range t0 {
		s0 = trans[s0+int32(classes[t0[i]])]
		s1 = trans[s1+int32(classes[t1[i]])]
		s2 = trans[s2+int32(classes[t2[i]])]
		s3 = trans[s3+int32(classes[t3[i]])]
		if (s0|s1|s2|s3)&1 != 0 {
			if s0&1 != 0 {
				hits = a.emit(s0, i+1, 0, hits)
			}
			if s1&1 != 0 {
				*h1 = a.emit(s1, lo1+i+1, b1, *h1)
			}
			if s2&1 != 0 {
				*h2 = a.emit(s2, lo2+i+1, b2, *h2)
			}
			if s3&1 != 0 {
				*h3 = a.emit(s3, lo3+i+1, b3, *h3)
			}
		}
	}
	// Finish each stream on its own.
	_, hits = a.scanRange(text, s0, m, b1, 0, hits)
	_, *h1 = a.scanRange(text, s1, lo1+m, b2, b1, *h1)
	_, *h2 = a.scanRange(text, s2, lo2+m, b3, b2, *h2)
	_, *h3 = a.scanRange(text, s3, lo3+m, len(text), b3, *h3)
	if bufs != nil {
		hits = append(append(append(hits, bufs[0]...), bufs[1]...), bufs[2]...)
	}
	return hits
}

// emit appends the patterns of output state s ending at end, when end is
// after rep.
func (a *automaton) emit(s int32, end, rep int, hits []acHit) []acHit {
	if end <= rep {
		return hits
	}
	st := s/a.stride - a.firstOut
	for _, p := range a.outs[a.outStart[st]:a.outStart[st+1]] {
		hits = append(hits, acHit{pat: p, end: int32(end)})
	}
	return hits
}

// scanRange runs the automaton from state s over text[from:to] and appends
// the matches ending after rep. It returns the final state.
func (a *automaton) scanRange(text []byte, s int32, from, to, rep int, hits []acHit) (int32, []acHit) {
	trans := a.trans
	classes := &a.classes
	t := text[from:to]
	for i, c := range t {
		s = trans[s+int32(classes[c])]
		if s&1 != 0 {
			hits = a.emit(s, from+i+1, rep, hits)
		}
	}
	return s, hits
}

// size returns the number of states, for benchmarks and diagnostics.
func (a *automaton) size() int { return len(a.trans) / int(a.stride) }
