package crawler

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// ErrRefusedAddress is the sentinel under every *GuardError: a connection
// was not made because the address it would go to is loopback, private,
// link-local, shared (CGNAT), unspecified, multicast, reserved or a cloud
// metadata service, and the configuration does not allow it. Retrying cannot
// help (see Permanent).
var ErrRefusedAddress = errors.New("refused address")

// GuardError reports a connection the URL guard refused. No packet was sent
// to Addr. It wraps ErrRefusedAddress.
type GuardError struct {
	// URL is the request that needed the connection: the target itself,
	// a redirect hop or, on the browser path, a sub-resource. It is empty
	// when only the host was known (a browser tunnel).
	URL string
	// Host is the host name or address literal as written in the URL.
	Host string
	// Addr is the refused address Host resolved to (or is).
	Addr netip.Addr
	// Reason names the address class: "loopback", "private",
	// "link-local", "shared (CGNAT)", "unspecified", "multicast",
	// "reserved" or "cloud metadata".
	Reason string
}

func (e *GuardError) Error() string {
	var b strings.Builder
	b.WriteString("refused address ")
	b.WriteString(e.Addr.String())
	b.WriteString(" (")
	b.WriteString(e.Reason)
	b.WriteString(")")
	if e.Host != "" && e.Host != e.Addr.String() {
		fmt.Fprintf(&b, " for host %s", e.Host)
	}
	if e.URL != "" {
		fmt.Fprintf(&b, " of %s", e.URL)
	}
	b.WriteString(": not allowed by the URL guard")
	return b.String()
}

// Unwrap returns ErrRefusedAddress.
func (e *GuardError) Unwrap() error { return ErrRefusedAddress }

// Permanent reports whether err, from Fetch or Render, will come back
// unchanged on retry: ErrInvalidURL and ErrRefusedAddress.
func Permanent(err error) bool {
	return errors.Is(err, ErrInvalidURL) || errors.Is(err, ErrRefusedAddress)
}

// Loopback allowances added by AllowLoopback.
var loopbackAllow = []string{"127.0.0.0/8", "::1/128"}

// AllowLoopback lets the fetcher connect to loopback addresses (127.0.0.0/8
// and ::1), as the demo and tests need for their local marketplace. The
// rest of the guard stays on.
func (c *Config) AllowLoopback() { c.Allow = addAllow(c.Allow, loopbackAllow) }

// AllowLoopback lets the browser connect to loopback addresses (127.0.0.0/8
// and ::1). The rest of the guard stays on.
func (c *BrowserConfig) AllowLoopback() { c.Allow = addAllow(c.Allow, loopbackAllow) }

func addAllow(have, add []string) []string {
	out := append([]string(nil), have...)
	for _, a := range add {
		found := false
		for _, h := range have {
			if strings.EqualFold(strings.TrimSpace(h), a) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, a)
		}
	}
	return out
}

// addrClass is a range of addresses the guard refuses by default.
type addrClass struct {
	prefix netip.Prefix
	reason string
}

// Cloud metadata services. They sit inside ranges refused anyway, but they
// are named apart because a mere range allowance does not open them: only
// AllowPrivate or an allowance of the exact address does.
var metadataAddrs = map[netip.Addr]bool{
	netip.MustParseAddr("169.254.169.254"): true, // AWS, GCP, Azure, OpenStack, Tencent Cloud …
	netip.MustParseAddr("169.254.170.2"):   true, // AWS ECS task metadata
	netip.MustParseAddr("100.100.100.200"): true, // Alibaba Cloud
	netip.MustParseAddr("fd00:ec2::254"):   true, // AWS IPv6
}

// refusedClasses lists the ranges in the order their names are reported:
// the first match names the class.
var refusedClasses = func() []addrClass {
	var out []addrClass
	add := func(reason string, prefixes ...string) {
		for _, p := range prefixes {
			out = append(out, addrClass{netip.MustParsePrefix(p), reason})
		}
	}
	add("unspecified", "0.0.0.0/8", "::/128")
	add("loopback", "127.0.0.0/8", "::1/128")
	add("private", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
	add("link-local", "169.254.0.0/16", "fe80::/10")
	add("shared (CGNAT)", "100.64.0.0/10")
	add("multicast", "224.0.0.0/4", "ff00::/8")
	add("reserved", "::/96", "240.0.0.0/4", "192.0.0.0/24", "198.18.0.0/15", "192.0.2.0/24",
		"198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "100::/64")
	return out
}()

// classify returns why a is refused by default, or "" for a public
// address. IPv4 addresses inside IPv6 (mapped, NAT64, 6to4) are judged by
// the IPv4 address they carry.
func classify(a netip.Addr) string {
	a = a.Unmap()
	if metadataAddrs[a] {
		return "cloud metadata"
	}
	if v4, ok := embeddedIPv4(a); ok {
		if r := classify(v4); r != "" {
			return r
		}
	}
	for _, c := range refusedClasses {
		if c.prefix.Contains(a) {
			return c.reason
		}
	}
	return ""
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address carried by a NAT64 (64:ff9b::/96)
// or 6to4 (2002::/16) address.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// guard decides which addresses the crawler may connect to. A nil *guard
// allows everything (AllowPrivate).
type guard struct {
	nets  []netip.Prefix
	hosts []string // lower case, no trailing dot; "*.example.com" matches subdomains
}

// newGuard builds the guard of a configuration. allowPrivate lifts it
// (nil guard); allow holds CIDRs, single addresses and host names.
func newGuard(allowPrivate bool, allow []string) (*guard, error) {
	if allowPrivate {
		return nil, nil
	}
	g := &guard{}
	for _, raw := range allow {
		s := strings.TrimSpace(raw)
		if s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("allow entry %q: %w", raw, err)
			}
			g.nets = append(g.nets, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
			a = a.Unmap()
			g.nets = append(g.nets, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		name := hostKey(s)
		if ascii, err := idna.Lookup.ToASCII(strings.TrimPrefix(name, "*.")); err == nil && ascii != "" {
			if strings.HasPrefix(name, "*.") {
				ascii = "*." + ascii
			}
			name = ascii
		}
		if !validHostPattern(name) {
			return nil, fmt.Errorf("allow entry %q: not a CIDR, an address or a host name", raw)
		}
		g.hosts = append(g.hosts, name)
	}
	return g, nil
}

func validHostPattern(s string) bool {
	s = strings.TrimPrefix(s, "*.")
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// hostAllowed reports whether host is named by a host allowance.
func (g *guard) hostAllowed(host string) bool {
	host = hostKey(host)
	for _, h := range g.hosts {
		if h == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(h, "*"); ok && strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}

// check returns a *GuardError when a connection to addr for host must not
// be made, and nil when it may.
//
// A host allowance opens every address the host resolves to, and a CIDR
// allowance the addresses in it, except that a cloud metadata address stays
// refused unless an allowance names exactly that address (or the guard is
// lifted): an allowance for 169.254.0.0/16 does not open 169.254.169.254.
func (g *guard) check(host string, addr netip.Addr) *GuardError {
	if g == nil {
		return nil
	}
	addr = addr.Unmap()
	reason := classify(addr)
	if reason == "" {
		return nil
	}
	if reason == "cloud metadata" {
		for _, p := range g.nets {
			if p.IsSingleIP() && p.Addr() == addr {
				return nil
			}
		}
		return &GuardError{Host: host, Addr: addr, Reason: reason}
	}
	if g.hostAllowed(host) {
		return nil
	}
	for _, p := range g.nets {
		if p.Contains(addr) {
			return nil
		}
	}
	return &GuardError{Host: host, Addr: addr, Reason: reason}
}

// lookupFunc resolves a host name to addresses.
type lookupFunc func(ctx context.Context, host string) ([]netip.Addr, error)

func defaultLookup(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// guardedDialer makes TCP connections for the crawler. It resolves the
// host itself, checks every address with the guard and then dials one of
// those exact addresses, so a name cannot resolve to one address for the
// check and to another for the connection (DNS rebinding). When any address
// of a host is refused the whole host is refused, and nothing is dialled.
type guardedDialer struct {
	guard   *guard
	lookup  lookupFunc
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration // bound on one DialContext, all addresses together; 0: none
}

func newGuardedDialer(g *guard, d *net.Dialer) *guardedDialer {
	return &guardedDialer{guard: g, lookup: defaultLookup, dial: d.DialContext, timeout: d.Timeout}
}

// resolve returns the addresses a connection to host may use, or a
// *GuardError naming the first refused one.
func (d *guardedDialer) resolve(ctx context.Context, network, host string) ([]netip.Addr, error) {
	usable, _, err := d.resolveAll(ctx, network, host)
	return usable, err
}

// resolveAll is resolve that also returns every address the host resolved
// to, in the resolver's order, before any is set aside for not matching
// network (an IP literal resolves to itself). all is nil when the lookup
// failed.
func (d *guardedDialer) resolveAll(ctx context.Context, network, host string) (usable, all []netip.Addr, err error) {
	if a, perr := netip.ParseAddr(strings.Trim(host, "[]")); perr == nil {
		all = []netip.Addr{a.Unmap()}
	} else {
		all, err = d.lookup(ctx, host)
		if err != nil {
			return nil, nil, &net.OpError{Op: "dial", Net: network, Err: err}
		}
	}
	for i, a := range all {
		a = a.Unmap()
		all[i] = a
		if gerr := d.guard.check(host, a); gerr != nil {
			return nil, all, gerr
		}
		switch {
		case network == "tcp4" && !a.Is4(), network == "tcp6" && !a.Is6():
			continue
		}
		usable = append(usable, a)
	}
	if len(usable) == 0 {
		return nil, all, &net.OpError{Op: "dial", Net: network,
			Err: &net.DNSError{Err: "no suitable address", Name: host, IsNotFound: true}}
	}
	return usable, all, nil
}

// DialContext connects to addr ("host:port") after the guard has passed
// every address host resolves to. Addresses are tried in the order the
// resolver gave them (RFC 6724), the time left shared among those not yet
// tried, as net.Dialer does; the first connection wins.
func (d *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, _, err := d.dialResolved(ctx, network, addr)
	return c, err
}

// dialResolved is DialContext that also returns every address the host
// resolved to for this connection (see resolveAll), for the evidence: on
// success, and on failure once the host has resolved.
func (d *guardedDialer) dialResolved(ctx context.Context, network, addr string) (net.Conn, []netip.Addr, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	if d.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.timeout)
		defer cancel()
	}
	addrs, all, err := d.resolveAll(ctx, network, host)
	if err != nil {
		return nil, all, err
	}
	var first error
	for i, a := range addrs {
		actx, cancel := ctx, context.CancelFunc(func() {})
		if left := len(addrs) - i; left > 1 {
			if dl, ok := ctx.Deadline(); ok {
				actx, cancel = context.WithTimeout(ctx, max(time.Until(dl)/time.Duration(left), 2*time.Second))
			}
		}
		c, err := d.dial(actx, network, net.JoinHostPort(a.String(), portStr))
		cancel()
		if err == nil {
			return c, all, nil
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, all, first
}

// withURL returns a copy of the *GuardError in err carrying rawURL, or err
// unchanged when it holds none.
func withURL(err error, rawURL string) error {
	var ge *GuardError
	if !errors.As(err, &ge) || ge.URL != "" {
		return err
	}
	cp := *ge
	cp.URL = rawURL
	return &cp
}
