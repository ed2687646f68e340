package db

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
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
