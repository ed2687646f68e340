package db

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// NormalizeURL returns the form of an absolute http or https URL that two
// spellings of the same page share: scheme and host in lower case, an
// internationalised host in its ASCII (punycode) form, the default port
// dropped, an empty path written as "/" and the fragment removed. Path and
// query are kept as given. The error names raw and what is wrong with it.
func NormalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", fmt.Errorf("%w: empty URL", ErrInvalid)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: URL %q: %v", ErrInvalid, raw, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "http" && u.Scheme != "https" {
		if u.Scheme == "" {
			return "", fmt.Errorf("%w: URL %q is not absolute (want http:// or https://)", ErrInvalid, raw)
		}
		return "", fmt.Errorf("%w: URL %q has scheme %q (want http or https)", ErrInvalid, raw, u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", fmt.Errorf("%w: URL %q has no host", ErrInvalid, raw)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("%w: URL %q has no host", ErrInvalid, raw)
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%w: URL %q: port %s is out of range (1–65535)", ErrInvalid, raw, port)
		}
	}
	if !isASCII(host) {
		h, err := idna.Punycode.ToASCII(host)
		if err != nil {
			return "", fmt.Errorf("%w: URL %q: host %q: %v", ErrInvalid, raw, host, err)
		}
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		port = ""
	}
	switch {
	case port != "":
		u.Host = net.JoinHostPort(host, port)
	case strings.Contains(host, ":"): // IPv6 literal
		u.Host = "[" + host + "]"
	default:
		u.Host = host
	}
	u.Fragment, u.RawFragment = "", ""
	if u.Path == "" {
		u.Path, u.RawPath = "/", ""
	}
	return u.String(), nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// VisitID is the id of the visit of rawURL within sweep: the same sweep and
// the same page (as NormalizeURL sees it) always give the same id, so
// enqueueing a URL that two pages link to adds one visit. It is "v-"
// followed by 24 hex digits of SHA-256 over the sweep id and the URL.
func VisitID(sweep, rawURL string) string {
	u, err := NormalizeURL(rawURL)
	if err != nil {
		u = strings.TrimSpace(rawURL)
	}
	h := sha256.New()
	h.Write([]byte(sweep))
	h.Write([]byte{0})
	h.Write([]byte(u))
	return "v-" + hex.EncodeToString(h.Sum(nil)[:12])
}

// DefaultTrackingParams are the query parameters that only track where a
// visitor came from (Taobao/Tmall's spm and scm, the utm_ family); two
// target URLs that differ only in them are the same target. A trailing
// "*" matches any suffix.
var DefaultTrackingParams = []string{"spm", "scm", "utm_*"}

// TargetKey is the form under which a target URL is known for duplicate
// detection: NormalizeURL's, without the query parameters that tracking
// matches (see DefaultTrackingParams; nil uses it) and without an empty
// query ("http://shop/?" is "http://shop/"). The remaining parameters keep
// their order and spelling.
func TargetKey(raw string, tracking []string) (string, error) {
	norm, err := NormalizeURL(raw)
	if err != nil {
		return "", err
	}
	if tracking == nil {
		tracking = DefaultTrackingParams
	}
	base, query, hasQuery := strings.Cut(norm, "?")
	if !hasQuery {
		return norm, nil
	}
	var kept []string
	for _, p := range strings.Split(query, "&") {
		if p == "" {
			continue
		}
		name, _, _ := strings.Cut(p, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if !trackingParam(name, tracking) {
			kept = append(kept, p)
		}
	}
	if len(kept) == 0 {
		return base, nil
	}
	return base + "?" + strings.Join(kept, "&"), nil
}

func trackingParam(name string, tracking []string) bool {
	name = strings.ToLower(name)
	for _, t := range tracking {
		if ok, _ := path.Match(strings.ToLower(t), name); ok {
			return true
		}
	}
	return false
}

// HasCredentials reports whether raw carries a user name or password
// (https://user:pass@host/).
func HasCredentials(raw string) bool {
	u, err := url.Parse(strings.TrimSpace(raw))
	return err == nil && u.User != nil
}

// StripCredentials returns raw without its user name and password.
func StripCredentials(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil {
		return raw
	}
	u.User = nil
	return u.String()
}
