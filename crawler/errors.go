package crawler

import (
	"errors"
	"fmt"
	"net/http"
)

// Errors that Fetch and Render return, wrapped with the URL they concern.
// Test for them with errors.Is. When one of them comes with a non-nil Page,
// the Page holds every exchange made so far: evidence is never dropped.
var (
	// ErrInvalidURL: the URL does not parse, its scheme is not http or
	// https, or it has no host. No connection is made.
	ErrInvalidURL = errors.New("invalid url")
	// ErrNotHTML: the final response is not HTML (by Content-Type, or by
	// sniffing when there is none). The Page carries the exchanges but no
	// decoded text.
	ErrNotHTML = errors.New("not html")
	// ErrTooManyRedirects: the redirect chain is longer than
	// Config.MaxRedirects. The Page carries every hop.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrBodyTooLarge: a body was longer than Config.MaxBodySize and was
	// cut. The Page is decoded from the first MaxBodySize bytes.
	ErrBodyTooLarge = errors.New("body too large")
	// ErrUnreachable: no connection could be made (refused, unroutable,
	// unknown host). It wraps the network error.
	ErrUnreachable = errors.New("host unreachable")
	// ErrTimeout: the fetch or render took longer than its configured
	// timeout.
	ErrTimeout = errors.New("timed out")
	// ErrClosed: the Browser was closed.
	ErrClosed = errors.New("browser closed")
)

// StatusError reports a final response with status 400 or above. Fetch
// returns it together with the Page, because the error page itself can be
// evidence (a listing that now answers 404, for instance).
type StatusError struct {
	Op     string // "fetch" or "render"
	URL    string // the URL as requested
	Status int
}

func (e *StatusError) Error() string {
	op := e.Op
	if op == "" {
		op = "fetch"
	}
	return fmt.Sprintf("%s %s: http status %d %s", op, e.URL, e.Status, http.StatusText(e.Status))
}
