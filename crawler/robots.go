package crawler

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"shopwatch"
)

// robots.txt is fetched for the evidence, never obeyed: inspectors visit
// the pages they are mandated to inspect whatever a site asks of crawlers.
// The exchange shows what the site asked at the time.
const (
	// robotsMaxBody caps the robots.txt bytes kept; a longer file is cut
	// and flagged with Exchange.BodyTruncated.
	robotsMaxBody = 512 << 10
	// robotsTTL is how long a fetched robots.txt (any status) is reused.
	robotsTTL = time.Hour
	// robotsFailTTL is how long a robots.txt fetch that got no response
	// (unreachable, timeout) is reused before it is tried again.
	robotsFailTTL = time.Minute
	// robotsMaxOrigins and robotsMaxBytes bound the cache (origins, and
	// bytes of heads and bodies kept); past either the oldest finished
	// entries are dropped.
	robotsMaxOrigins = 4096
	robotsMaxBytes   = 64 << 20
)

// robotsCache holds the robots.txt exchange of each origin. Concurrent
// requests for an origin that is not cached share one fetch.
type robotsCache struct {
	ttl, failTTL time.Duration
	max          int // origins
	maxBytes     int // bytes of finished entries
	now          func() time.Time
	fetch        func(ctx context.Context, origin string) shopwatch.Exchange

	mu      sync.Mutex
	entries map[string]*robotsEntry
	bytes   int // sum of size over finished entries
}

type robotsEntry struct {
	done    chan struct{} // closed when ex, expires and size are set
	ex      shopwatch.Exchange
	added   time.Time
	expires time.Time
	size    int
}

func newRobotsCache(fetch func(ctx context.Context, origin string) shopwatch.Exchange) *robotsCache {
	return &robotsCache{
		ttl:      robotsTTL,
		failTTL:  robotsFailTTL,
		max:      robotsMaxOrigins,
		maxBytes: robotsMaxBytes,
		now:      time.Now,
		fetch:    fetch,
		entries:  make(map[string]*robotsEntry),
	}
}

// get returns the entry of origin, starting its fetch when there is no
// live one. The fetch runs on its own goroutine under ctx's values but not
// its cancellation (other callers may share it); its own timeout bounds it.
func (c *robotsCache) get(ctx context.Context, origin string) *robotsEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if e := c.entries[origin]; e != nil {
		select {
		case <-e.done:
			if now.Before(e.expires) {
				return e
			}
		default:
			return e // in flight
		}
	}
	c.drop(origin)
	c.shrink(now, c.max-1)
	e := &robotsEntry{done: make(chan struct{}), added: now}
	c.entries[origin] = e
	fctx := context.WithoutCancel(ctx)
	go func() {
		ex := c.fetch(fctx, origin)
		c.mu.Lock()
		defer c.mu.Unlock()
		ttl := c.ttl
		if ex.Status == 0 || ex.Err != "" {
			ttl = c.failTTL // no answer, or a cut one: try again soon
		}
		now := c.now()
		e.ex, e.expires = ex, now.Add(ttl)
		e.size = len(ex.RequestHeader) + len(ex.ResponseHeader) + len(ex.Body) + len(ex.WireBody)
		close(e.done)
		if c.entries[origin] == e {
			c.bytes += e.size
			c.shrink(now, c.max)
		}
	}()
	return e
}

// drop removes the entry of origin. Called with c.mu held.
func (c *robotsCache) drop(origin string) {
	e := c.entries[origin]
	if e == nil {
		return
	}
	select {
	case <-e.done:
		c.bytes -= e.size
	default:
	}
	delete(c.entries, origin)
}

// shrink drops expired entries, then the oldest finished ones, until at
// most keep origins and maxBytes bytes remain. Entries in flight stay: they
// are bounded by the callers. Called with c.mu held.
func (c *robotsCache) shrink(now time.Time, keep int) {
	if len(c.entries) <= keep && c.bytes <= c.maxBytes {
		return
	}
	type aged struct {
		origin string
		added  time.Time
	}
	var finished []aged
	for o, e := range c.entries {
		select {
		case <-e.done:
			if !now.Before(e.expires) {
				c.drop(o)
				continue
			}
			finished = append(finished, aged{o, e.added})
		default:
		}
	}
	slices.SortFunc(finished, func(a, b aged) int { return a.added.Compare(b.added) })
	for _, f := range finished {
		if len(c.entries) <= keep && c.bytes <= c.maxBytes {
			break
		}
		c.drop(f.origin)
	}
}

// size returns the number of cached origins and the bytes they hold.
func (c *robotsCache) size() (origins, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries), c.bytes
}

// wait returns a copy of the entry's exchange once it is there, or ctx's
// error.
func (e *robotsEntry) wait(ctx context.Context) (*shopwatch.Exchange, error) {
	select {
	case <-e.done:
		return copyExchange(e.ex), nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

// copyExchange returns a deep copy of ex, so a page never shares bytes with
// the cache or with another page.
func copyExchange(ex shopwatch.Exchange) *shopwatch.Exchange {
	cp := ex
	cp.RequestHeader = slices.Clone(ex.RequestHeader)
	cp.ResponseHeader = slices.Clone(ex.ResponseHeader)
	cp.Body = slices.Clone(ex.Body)
	cp.WireBody = slices.Clone(ex.WireBody)
	cp.ResolvedIPs = slices.Clone(ex.ResolvedIPs)
	if ex.TLS != nil {
		t := *ex.TLS
		t.PeerCertificates = make([][]byte, len(ex.TLS.PeerCertificates))
		for i, c := range ex.TLS.PeerCertificates {
			t.PeerCertificates[i] = slices.Clone(c)
		}
		cp.TLS = &t
	}
	return &cp
}

// robotsOrigin returns the origin of u as robots.txt is scoped (RFC 9309):
// scheme, lower-case host and port, the port left out when it is the
// scheme's default, so that one origin has one spelling (and the request
// carries the Host header a browser would send).
func robotsOrigin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host := hostKey(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(scheme == "http" && p == "80") && !(scheme == "https" && p == "443") {
		host += ":" + p
	}
	return scheme + "://" + host
}

// Robots returns the robots.txt exchange of the origin (scheme, host and
// port) of pageURL, for the evidence. The first call for an origin fetches
// /robots.txt once through the same URL guard, per-host and global limits
// and recording transport as every page, without following redirects (a
// redirect is recorded as the answer), keeping at most 512 KiB of body and
// bounded by Config.RobotsTimeout; concurrent calls share that fetch. The
// exchange is then reused for an hour, or for a minute when no complete
// response came (network error, timeout, body cut by an error).
//
// Whatever the site answered, 404, an error status, a network error or a
// timeout, comes back as an exchange with its Status and Err: the error is
// non-nil only when pageURL is not an absolute http(s) URL or ctx ends
// before the exchange is there. The returned exchange is the caller's own
// copy. Robots works whatever Config.RecordRobots says; that setting only
// decides whether Fetch calls it. It is safe for concurrent use.
func (f *Fetcher) Robots(ctx context.Context, pageURL string) (*shopwatch.Exchange, error) {
	u, err := parseTargetURL(pageURL)
	if err != nil {
		return nil, fmt.Errorf("robots.txt for %q: %w", pageURL, err)
	}
	ex, err := f.robots.get(ctx, robotsOrigin(u)).wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("robots.txt for %s: %w", pageURL, err)
	}
	return ex, nil
}

// fetchRobots makes the one request for origin's /robots.txt and returns
// its exchange. It never fails: what went wrong is in the exchange.
func (f *Fetcher) fetchRobots(ctx context.Context, origin string) shopwatch.Exchange {
	target := origin + "/robots.txt"
	ctx, cancel := context.WithTimeoutCause(ctx, f.cfg.RobotsTimeout, errRobotsTimeout)
	defer cancel()
	rec := newRecorder(robotsMaxBody, nil)
	failed := func(err error) shopwatch.Exchange {
		if errors.Is(context.Cause(ctx), errRobotsTimeout) {
			err = fmt.Errorf("robots.txt %w after %s: %w", ErrTimeout, f.cfg.RobotsTimeout, err)
		}
		if exs := rec.exchanges(); len(exs) > 0 {
			ex := exs[0]
			if ex.Err == "" || ctx.Err() != nil {
				ex.Err = err.Error()
			}
			return ex
		}
		// The request never started (no slot before the timeout).
		return shopwatch.Exchange{Method: http.MethodGet, URL: target, ContentLength: -1, Started: time.Now(), Err: err.Error()}
	}
	req, err := http.NewRequestWithContext(withRecorder(ctx, rec), http.MethodGet, target, nil)
	if err != nil {
		return failed(err)
	}
	req.Header.Set("User-Agent", f.cfg.UserAgent)
	req.Header.Set("Accept", "text/plain,*/*;q=0.8")
	resp, err := f.transport.RoundTrip(req)
	if err != nil {
		return failed(err)
	}
	// Closing reads the rest of the body into the exchange, up to the cap.
	resp.Body.Close()
	ex := rec.exchanges()[0]
	if ex.Err != "" && ctx.Err() != nil {
		return failed(errors.New(ex.Err))
	}
	f.log.Debug("robots.txt recorded", "url", target, "status", ex.Status, "bytes", len(ex.Body), "err", ex.Err)
	return ex
}

var errRobotsTimeout = errors.New("robots.txt timeout")

// pageRobots starts (or finds) the robots.txt fetch of the origin of u for
// Fetch, or returns nil when RecordRobots is off.
func (f *Fetcher) pageRobots(ctx context.Context, u *url.URL) *robotsEntry {
	if !f.cfg.RecordRobots {
		return nil
	}
	return f.robots.get(ctx, robotsOrigin(u))
}
