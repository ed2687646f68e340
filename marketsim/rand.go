package marketsim

// rng is a tiny splitmix64 generator. Every page draws from its own stream,
// keyed by the market seed, a salt naming what is generated (shop, product,
// room) and the page's numbers, so any page can be rebuilt on its own, in
// any order, without holding state.
type rng struct{ s uint64 }

// Stream salts: one per kind of generated thing.
const (
	saltShop    = 0x73686f70 // "shop"
	saltProduct = 0x70726f64 // "prod"
	saltRoom    = 0x726f6f6d // "room"
)

func mix64(z uint64) uint64 {
	z += 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// newRNG returns the stream for (seed, salt, a, b).
func newRNG(seed int64, salt, a, b uint64) rng {
	s := mix64(uint64(seed))
	s = mix64(s ^ salt)
	s = mix64(s ^ a)
	s = mix64(s ^ b)
	return rng{s: s}
}

func (r *rng) next() uint64 {
	z := mix64(r.s)
	r.s += 0x9e3779b97f4a7c15
	return z
}

// intn returns a number in [0, n). The modulo bias is below 2^-50 for the
// small n used here.
func (r *rng) intn(n int) int {
	return int(r.next() % uint64(n))
}

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int {
	return lo + r.intn(hi-lo+1)
}

// float returns a number in [0, 1).
func (r *rng) float() float64 {
	return float64(r.next()>>11) / (1 << 53)
}

func pick[T any](r *rng, xs []T) T {
	return xs[r.intn(len(xs))]
}

// pickN returns n distinct elements of xs in draw order (n <= len(xs)).
func pickN[T any](r *rng, xs []T, n int) []T {
	idx := make([]int, 0, n)
	out := make([]T, 0, n)
outer:
	for len(out) < n {
		i := r.intn(len(xs))
		for _, j := range idx {
			if j == i {
				continue outer
			}
		}
		idx = append(idx, i)
		out = append(out, xs[i])
	}
	return out
}
