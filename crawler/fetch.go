package crawler

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gocolly/colly/v2"

	"shopwatch"
)

// Fetcher fetches single pages over HTTP with colly and keeps every
// exchange. It is safe for concurrent use by many goroutines; all of them
// share the per-host and global limits and the connection pool.
type Fetcher struct {
	cfg       Config
	base      *colly.Collector
	transport *recordingTransport
	limits    *hostLimiter
	robots    *robotsCache
	log       *slog.Logger
}

// errRedirectLimit is what the redirect handler returns; Fetch turns it
// into ErrTooManyRedirects naming the URL.
type errRedirectLimit struct{ hops int }

func (e *errRedirectLimit) Error() string {
	return fmt.Sprintf("stopped after %d redirects", e.hops)
}

// errFetchTimeout is the cancellation cause when Config.Timeout runs out.
var errFetchTimeout = errors.New("fetch timeout")

// New returns a Fetcher. Zero fields of cfg take the values of
// DefaultConfig; negative limits are an error.
func New(cfg Config) (*Fetcher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	f := &Fetcher{cfg: cfg, log: slog.Default().With("component", "crawler")}
	if cfg.Limiter != nil {
		f.limits = cfg.Limiter
	} else {
		f.limits = newHostLimiter(cfg.PerHostParallel, cfg.MaxParallel, cfg.PerHostDelay)
	}
	g, err := newGuard(cfg.AllowPrivate, cfg.Allow)
	if err != nil {
		return nil, fmt.Errorf("crawler config: %w", err)
	}
	f.transport = newRecordingTransport(cfg, g, f.limits)
	f.robots = newRobotsCache(f.fetchRobots)

	c := colly.NewCollector()
	// colly reads COLLY_* environment variables in NewCollector; set every
	// field that matters so the environment cannot change what is fetched
	// or recorded.
	c.UserAgent = cfg.UserAgent
	c.Headers = nil
	c.MaxDepth = 0
	c.MaxRequests = 0
	c.AllowedDomains = nil
	c.DisallowedDomains = nil
	c.URLFilters = nil
	c.DisallowedURLFilters = nil
	c.AllowURLRevisit = true // the sweep's queue decides what to revisit; colly keeps no visited set
	c.CacheDir = ""          // a cached answer would bypass the recording transport
	c.IgnoreRobotsTxt = true // targets are chosen by inspectors under their legal mandate
	c.Async = false
	c.ParseHTTPErrorResponse = true // a 404 page is still a page
	c.DetectCharset = false         // charsets are decided by DecodeHTML from the raw bytes
	c.TraceHTTP = false
	c.CheckHead = false
	c.MaxBodySize = int(cfg.MaxBodySize)
	c.WithTransport(f.transport)
	c.SetRequestTimeout(0) // bounded by the fetch context instead, see Fetch
	c.SetRedirectHandler(f.checkRedirect)
	c.DisableCookies() // cookies are kept per Fetch by the recording transport
	f.base = c
	return f, nil
}

// Config returns the configuration in use, defaults applied.
func (f *Fetcher) Config() Config {
	c := f.cfg
	c.Allow = append([]string(nil), c.Allow...)
	return c
}

// Close releases idle connections. The Fetcher stays usable.
func (f *Fetcher) Close() { f.transport.closeIdle() }

// checkRedirect caps the redirect chain. via holds the requests made so
// far, so the redirect about to be followed is number len(via).
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if f.cfg.MaxRedirects < 0 {
		return http.ErrUseLastResponse
	}
	if len(via) > f.cfg.MaxRedirects {
		return &errRedirectLimit{hops: len(via)}
	}
	return nil
}

// Fetch fetches one page: a GET of rawURL, following redirects up to
// Config.MaxRedirects, waiting its turn under the per-host and global
// limits. It does not follow links.
//
// The Page holds every exchange in order (redirect hops first), the final
// status and URL, the markup decoded from the raw body by DecodeHTML, the
// title and visible text from ExtractText, and the links of the page that
// stay on the final URL's host, made absolute (against <base href> when
// there is one), without fragments, http and https only, each once.
//
// Fetch returns a non-nil Page whenever a request was attempted, even with
// an error, because the exchanges are evidence: with ErrNotHTML, with
// ErrBodyTooLarge (decoded from the bytes kept), with a *StatusError for a
// status of 400 or more (decoded as usual), with ErrTooManyRedirects, and
// with network errors. Only ErrInvalidURL, and a context that ends before
// the first request starts, come with a nil Page. Errors name the URL.
//
// With Config.RecordRobots, Page.Robots holds the robots.txt exchange of
// the final URL's origin (see Robots). It is fetched alongside the page and
// waited for afterwards, at most Config.RobotsTimeout from its start; it
// never changes the page, its error or whether the page is fetched.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (*shopwatch.Page, error) {
	u, err := parseTargetURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("fetch %q: %w", rawURL, err)
	}
	robots := f.pageRobots(ctx, u)
	page, err := f.fetchPage(ctx, rawURL, u)
	if page != nil && robots != nil {
		f.attachRobots(ctx, page, u, robots)
	}
	return page, err
}

// attachRobots sets page.Robots to the robots.txt exchange of the origin
// the page came from: the requested one, whose fetch is under way, or the
// final URL's when a redirect left it. It leaves Robots nil when ctx ends
// first.
func (f *Fetcher) attachRobots(ctx context.Context, page *shopwatch.Page, u *url.URL, e *robotsEntry) {
	if fu, err := url.Parse(page.FinalURL); err == nil && fu.Hostname() != "" {
		if o := robotsOrigin(fu); o != robotsOrigin(u) {
			e = f.robots.get(ctx, o)
		}
	}
	page.Robots, _ = e.wait(ctx)
}

// fetchPage is Fetch without robots.txt.
func (f *Fetcher) fetchPage(ctx context.Context, rawURL string, u *url.URL) (*shopwatch.Page, error) {
	started := time.Now()

	fctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		timerOnce sync.Once
		timer     *time.Timer
		timerMu   sync.Mutex
	)
	rec := newRecorder(f.cfg.MaxBodySize, func() {
		// The timeout starts when the first request may start, not while
		// it queues for a per-host slot.
		timerOnce.Do(func() {
			timerMu.Lock()
			timer = time.AfterFunc(f.cfg.Timeout, func() { cancel(errFetchTimeout) })
			timerMu.Unlock()
		})
	})
	defer func() {
		timerMu.Lock()
		if timer != nil {
			timer.Stop()
		}
		timerMu.Unlock()
	}()

	c := f.base.Clone()
	c.Context = withRecorder(fctx, rec)
	hdr := http.Header{}
	hdr.Set("User-Agent", f.cfg.UserAgent)
	hdr.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
	hdr.Set("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5")
	reqErr := c.Request(http.MethodGet, u.String(), nil, nil, hdr)

	exchanges := rec.exchanges()
	if len(exchanges) == 0 {
		if reqErr != nil && fctx.Err() == nil {
			// colly turned the request down before sending it (its URL
			// parser is stricter than net/url in places).
			return nil, fmt.Errorf("fetch %q: %w: %w", rawURL, ErrInvalidURL, reqErr)
		}
		return nil, f.requestError(rawURL, fctx, ctx, reqErr)
	}
	page := &shopwatch.Page{
		URL:       rawURL,
		Exchanges: exchanges,
		FetchedAt: exchanges[0].Started,
	}
	if page.FetchedAt.IsZero() {
		page.FetchedAt = started
	}
	final := finalExchange(exchanges)
	if final == nil {
		page.FinalURL = exchanges[len(exchanges)-1].URL
		return page, f.requestError(rawURL, fctx, ctx, reqErr)
	}
	page.FinalURL = final.URL
	page.Status = final.Status
	page.ContentType = headerValue(final.ResponseHeader, "Content-Type")

	var errs []error
	if reqErr != nil {
		errs = append(errs, f.requestError(rawURL, fctx, ctx, reqErr))
	}
	for _, ex := range exchanges {
		if ex.BodyTruncated {
			errs = append(errs, fmt.Errorf("fetch %s: %w: %s sent more than %d bytes", rawURL, ErrBodyTooLarge, ex.URL, f.cfg.MaxBodySize))
			break
		}
	}
	if final.Status >= 400 {
		errs = append(errs, &StatusError{Op: "fetch", URL: rawURL, Status: final.Status})
	}

	body, err := f.contentBytes(final)
	if err != nil {
		errs = append(errs, fmt.Errorf("fetch %s: %w", rawURL, err))
	}
	redirect := final.Status >= 300 && final.Status < 400
	switch {
	case redirect && reqErr != nil:
		// A redirect chain cut short: the last hop's body is kept in its
		// exchange but is not the page.
	case isHTML(page.ContentType, body):
		if err := f.fillHTML(page, body); err != nil {
			errs = append(errs, fmt.Errorf("fetch %s: %w", rawURL, err))
		}
	case redirect:
		// Redirects not followed (MaxRedirects < 0) need not be HTML.
	default:
		errs = append(errs, fmt.Errorf("fetch %s: %w (content type %q)", rawURL, ErrNotHTML, page.ContentType))
	}
	err = errors.Join(errs...)
	f.log.Debug("fetched", "url", rawURL, "final", page.FinalURL, "status", page.Status,
		"exchanges", len(exchanges), "charset", page.Charset, "took", time.Since(started), "err", err)
	return page, err
}

// fillHTML decodes body into page and extracts title, text and links.
func (f *Fetcher) fillHTML(page *shopwatch.Page, body []byte) error {
	h, cs, declared, source, err := DecodeHTML(body, page.ContentType)
	if err != nil {
		return err
	}
	page.HTML, page.Charset, page.DeclaredCharset, page.CharsetSource = h, cs, declared, source
	ex := extract(h)
	page.Title, page.Text, page.Regions = ex.title, ex.text, ex.regions
	page.Links = sameHostLinks(page.FinalURL, ex.base, ex.links)
	return nil
}

// contentBytes returns the body of ex with any gzip or deflate content
// coding undone (the exchange keeps the coded bytes). The server should not
// send one, since no Accept-Encoding is sent, but some do. The output is
// capped at MaxBodySize like the wire bytes; past it, the first MaxBodySize
// bytes come back with ErrBodyTooLarge.
func (f *Fetcher) contentBytes(ex *shopwatch.Exchange) ([]byte, error) {
	return decodeContent(ex, f.cfg.MaxBodySize)
}

// decodeContent is contentBytes with the cap maxSize.
func decodeContent(ex *shopwatch.Exchange, maxSize int64) ([]byte, error) {
	coding := strings.ToLower(strings.TrimSpace(headerValue(ex.ResponseHeader, "Content-Encoding")))
	var r io.Reader
	switch coding {
	case "", "identity":
		return ex.Body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(ex.Body))
		if err != nil {
			return nil, fmt.Errorf("gunzip body of %s: %w", ex.URL, err)
		}
		defer zr.Close()
		r = zr
	case "deflate":
		r = flate.NewReader(bytes.NewReader(ex.Body))
	default:
		return nil, fmt.Errorf("body of %s: unsupported content coding %q", ex.URL, coding)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return out, fmt.Errorf("decompress body of %s: %w", ex.URL, err)
	}
	if int64(len(out)) > maxSize {
		return out[:maxSize], fmt.Errorf("%w: %s decompresses to more than %d bytes", ErrBodyTooLarge, ex.URL, maxSize)
	}
	return out, nil
}

// requestError turns what colly returned into an error naming rawURL.
func (f *Fetcher) requestError(rawURL string, fctx, ctx context.Context, err error) error {
	if err == nil {
		err = errors.New("no response")
	}
	if errors.Is(context.Cause(fctx), errFetchTimeout) {
		return fmt.Errorf("fetch %s: %w after %s", rawURL, ErrTimeout, f.cfg.Timeout)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("fetch %s: %w", rawURL, context.Cause(ctx))
	}
	var rl *errRedirectLimit
	if errors.As(err, &rl) {
		return fmt.Errorf("fetch %s: %w: %d redirects, the limit is %d", rawURL, ErrTooManyRedirects, rl.hops, f.cfg.MaxRedirects)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // it repeats the URL
	}
	var ge *GuardError
	if errors.As(err, &ge) {
		return fmt.Errorf("fetch %s: %w", rawURL, ge)
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	if errors.As(err, &dnsErr) || (errors.As(err, &opErr) && opErr.Op == "dial") {
		return fmt.Errorf("fetch %s: %w: %w", rawURL, ErrUnreachable, err)
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return fmt.Errorf("fetch %s: %w: %w", rawURL, ErrTimeout, err)
	}
	return fmt.Errorf("fetch %s: %w", rawURL, err)
}

// finalExchange is the last exchange that got a response.
func finalExchange(exs []shopwatch.Exchange) *shopwatch.Exchange {
	for i := len(exs) - 1; i >= 0; i-- {
		if exs[i].Status != 0 {
			return &exs[i]
		}
	}
	return nil
}

// parseTargetURL accepts absolute http and https URLs with a host.
func parseTargetURL(rawURL string) (*url.URL, error) {
	s := strings.TrimSpace(rawURL)
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return nil, fmt.Errorf("%w: no scheme", ErrInvalidURL)
	default:
		return nil, fmt.Errorf("%w: scheme %q is not http or https", ErrInvalidURL, u.Scheme)
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if p := u.Port(); p != "" && p == "0" {
		return nil, fmt.Errorf("%w: port 0", ErrInvalidURL)
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// hostKey is the name per-host limits are counted under.
func hostKey(hostname string) string {
	return strings.TrimSuffix(strings.ToLower(hostname), ".")
}

// sameHostLinks resolves hrefs against the page URL (or its <base href>)
// and keeps http(s) links on the page's host, fragment-free, each once, in
// document order, leaving out the page itself.
func sameHostLinks(pageURL, baseHref string, hrefs []string) []string {
	page, err := url.Parse(pageURL)
	if err != nil {
		return nil
	}
	base := page
	if baseHref != "" {
		if b, err := page.Parse(baseHref); err == nil {
			base = b
		}
	}
	self := *page
	self.Fragment, self.RawFragment = "", ""
	seen := map[string]bool{self.String(): true}
	var out []string
	for _, href := range hrefs {
		if href == "" || strings.HasPrefix(href, "#") {
			continue
		}
		u, err := base.Parse(href)
		if err != nil {
			continue
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			continue
		}
		if !sameHost(u, page) {
			continue
		}
		u.Fragment, u.RawFragment = "", ""
		s := u.String()
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
	}
	return out
}

// sameHost compares host names and ports, a missing port counting as the
// scheme's default.
func sameHost(a, b *url.URL) bool {
	return hostKey(a.Hostname()) == hostKey(b.Hostname()) && portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		if (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
			return ""
		}
		return p
	}
	return ""
}

// isHTML decides from the Content-Type, or from the bytes when there is
// none.
func isHTML(contentType string, body []byte) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "" {
		mt, _, _ = strings.Cut(http.DetectContentType(body), ";")
	}
	if bytes.HasPrefix(body, []byte{0x1f, 0x8b, 0x08}) {
		// A gzip stream the server did not label as content coding:
		// compressed bytes, whatever the Content-Type says.
		return false
	}
	return mt == "text/html" || mt == "application/xhtml+xml"
}

// headerValue returns the first value of a header field in the final
// head of a raw response head (interim 1xx heads are skipped), or "".
func headerValue(head []byte, name string) string {
	head = bytes.ReplaceAll(head, []byte("\r\n"), []byte("\n"))
	head = bytes.TrimRight(head, "\n")
	if i := bytes.LastIndex(head, []byte("\n\n")); i >= 0 {
		head = head[i+2:]
	}
	lines := bytes.Split(head, []byte("\n"))
	for _, line := range lines[min(1, len(lines)):] { // skip the status line
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && strings.EqualFold(string(bytes.TrimSpace(k)), name) {
			return string(bytes.TrimSpace(v))
		}
	}
	return ""
}
