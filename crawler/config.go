package crawler

import (
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"time"
)

// Config sets the limits of a Fetcher. Zero fields take the value of
// DefaultConfig, so Config{} is a usable configuration.
type Config struct {
	// UserAgent is sent on every request.
	UserAgent string
	// Timeout bounds one Fetch, redirects and body included, counted from
	// the moment its first request may start: time spent waiting for a
	// per-host or global slot is bounded by the caller's context only.
	Timeout time.Duration
	// MaxBodySize caps the body bytes read and kept per response. A longer
	// body is cut, flagged with Exchange.BodyTruncated, and Fetch returns
	// ErrBodyTooLarge with the partial Page.
	MaxBodySize int64
	// MaxRedirects is the number of redirects one Fetch follows; one more
	// is ErrTooManyRedirects. A negative value follows none: the redirect
	// response itself becomes the page.
	MaxRedirects int
	// PerHostParallel is how many requests may run at once against one host
	// name (ports are not told apart).
	PerHostParallel int
	// PerHostDelay is the least time between the starts of two requests to
	// one host name. Zero means no spacing.
	PerHostDelay time.Duration
	// MaxParallel caps the requests in flight across all hosts.
	MaxParallel int
	// AllowPrivate lifts the URL guard: connections may go to any address.
	// Off by default: connections to loopback, private (RFC 1918,
	// fc00::/7), link-local, shared (100.64.0.0/10), unspecified,
	// multicast, reserved and cloud metadata addresses are refused with a
	// *GuardError, checked when connecting, for every request and redirect
	// hop.
	AllowPrivate bool
	// Allow opens parts of the guarded space: CIDRs ("127.0.0.0/8"),
	// single addresses ("10.1.2.3") and host names ("intranet.example",
	// "*.intranet.example" for its subdomains, whatever they resolve to).
	// A cloud metadata address opens only when an entry names exactly that
	// address. See AllowLoopback.
	Allow []string
	// Limiter, when set, replaces the Fetcher's own per-host and global
	// limits (PerHostParallel, PerHostDelay and MaxParallel are then the
	// Limiter's), so that a Browser sharing it (BrowserConfig.Limiter)
	// keeps to the same limits.
	Limiter *Limiter
	// RootCAs are the certificate authorities HTTPS servers are verified
	// against; nil means the system roots. Verification is always on: a
	// certificate that does not verify fails the request, naming the URL,
	// and the chain the server presented is still recorded in the exchange.
	RootCAs *x509.CertPool
	// RecordRobots makes Fetch record the robots.txt of the page's origin
	// (scheme, host and port) in Page.Robots, fetched once per origin and
	// cached (see Fetcher.Robots). robots.txt is evidence only: it never
	// blocks or fails a fetch. Off in DefaultConfig, like every zero field,
	// so that tests and one-off fetches make only the requests they ask
	// for; sweeps that produce evidence turn it on.
	RecordRobots bool
	// RobotsTimeout bounds one robots.txt fetch, the wait for a per-host
	// slot included, and so how long Fetch waits for it after the page.
	RobotsTimeout time.Duration
}

// DefaultUserAgent is the User-Agent of DefaultConfig.
const DefaultUserAgent = "shopwatch/1 (market regulation inspection)"

// DefaultConfig returns the configuration New applies to zero fields: 30 s
// timeout, 8 MiB bodies, 10 redirects, 4 requests per host, no delay, 16
// requests in all, the URL guard on with nothing allowed, system roots,
// robots.txt not recorded, and a 10 s robots.txt timeout for when it is.
func DefaultConfig() Config {
	return Config{
		UserAgent:       DefaultUserAgent,
		Timeout:         30 * time.Second,
		MaxBodySize:     8 << 20,
		MaxRedirects:    10,
		PerHostParallel: 4,
		PerHostDelay:    0,
		MaxParallel:     16,
		RobotsTimeout:   10 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultConfig and rejects negative
// limits.
func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	c.Allow = append([]string(nil), c.Allow...) // the caller's slice stays theirs
	if c.UserAgent == "" {
		c.UserAgent = d.UserAgent
	}
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxBodySize == 0 {
		c.MaxBodySize = d.MaxBodySize
	}
	if c.MaxRedirects == 0 {
		c.MaxRedirects = d.MaxRedirects
	}
	if c.PerHostParallel == 0 {
		c.PerHostParallel = d.PerHostParallel
	}
	if c.MaxParallel == 0 {
		c.MaxParallel = d.MaxParallel
	}
	if c.RobotsTimeout == 0 {
		c.RobotsTimeout = d.RobotsTimeout
	}
	switch {
	case c.Timeout < 0:
		return c, fmt.Errorf("crawler config: negative timeout %s", c.Timeout)
	case c.MaxBodySize < 0:
		return c, fmt.Errorf("crawler config: negative max body size %d", c.MaxBodySize)
	case c.MaxBodySize > 1<<30:
		return c, fmt.Errorf("crawler config: max body size %d above 1 GiB", c.MaxBodySize)
	case c.PerHostParallel < 0:
		return c, fmt.Errorf("crawler config: negative per-host parallelism %d", c.PerHostParallel)
	case c.MaxParallel < 0:
		return c, fmt.Errorf("crawler config: negative max parallelism %d", c.MaxParallel)
	case c.PerHostDelay < 0:
		return c, fmt.Errorf("crawler config: negative per-host delay %s", c.PerHostDelay)
	case c.RobotsTimeout < 0:
		return c, fmt.Errorf("crawler config: negative robots.txt timeout %s", c.RobotsTimeout)
	}
	return c, nil
}

// Validate reports the first setting of c that New would refuse (a
// negative limit, a body cap above 1 GiB) or that cannot work (an Allow
// entry that is neither an address, a CIDR nor a host name). Zero fields
// are valid: they take DefaultConfig's values. Call it once at start-up,
// so that a bad setting stops a command before it does anything.
func (c Config) Validate() error {
	if _, err := c.withDefaults(); err != nil {
		return err
	}
	for _, a := range c.Allow {
		switch {
		case strings.Contains(a, "/"):
			if _, _, err := net.ParseCIDR(a); err != nil {
				return fmt.Errorf("crawler config: allow entry %q is not a CIDR: %w", a, err)
			}
		case a == "" || strings.ContainsAny(a, " \t\\:") && net.ParseIP(a) == nil:
			return fmt.Errorf("crawler config: allow entry %q is not an address, CIDR or host name", a)
		}
	}
	return nil
}
