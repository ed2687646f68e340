package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/digitorus/timestamp"
)

// Media types of RFC 3161 section 3.4.
const (
	QueryMediaType = "application/timestamp-query"
	ReplyMediaType = "application/timestamp-reply"
)

// Size limits on the wire.
const (
	maxQuerySize = 16 << 10
	maxReplySize = 1 << 20
)

// DefaultRequestTimeout bounds Request when the caller's http.Client has no
// timeout of its own and the context no deadline.
const DefaultRequestTimeout = 30 * time.Second

// Handler returns an http.Handler that serves the authority over HTTP
// (RFC 3161 section 3.4): a POST of a DER TimeStampReq with Content-Type
// application/timestamp-query is answered with a DER TimeStampResp,
// application/timestamp-reply, status 200. Requests the authority cannot
// grant (a malformed request, a hash other than SHA-256/384/512, a
// different policy, extensions) get a rejection TimeStampResp naming the
// failure, also with status 200; other methods get 405, other media types
// 415. The certificate is included when the request sets certReq. It is
// safe for concurrent use.
func (a *Authority) Handler() http.Handler {
	return http.HandlerFunc(a.serveHTTP)
}

func (a *Authority) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "RFC 3161 time-stamp requests are POSTed", http.StatusMethodNotAllowed)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != QueryMediaType {
		http.Error(w, "Content-Type must be "+QueryMediaType, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxQuerySize+1))
	if err != nil {
		http.Error(w, "reading the request failed", http.StatusBadRequest)
		return
	}
	var resp []byte
	if len(body) > maxQuerySize {
		resp, err = a.reject(r.Context(), timestamp.BadDataFormat, "request larger than %d bytes", maxQuerySize)
	} else {
		resp, err = a.answer(r.Context(), body)
	}
	if err != nil {
		a.log.ErrorContext(r.Context(), "timestamp request failed", "remote", r.RemoteAddr, "err", err)
		resp, err = timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.SystemFailure)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", ReplyMediaType)
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(http.StatusOK)
	w.Write(resp)
}

// answer returns the TimeStampResp for one DER TimeStampReq: a token or a
// rejection. The error is for failures of the authority itself.
func (a *Authority) answer(ctx context.Context, der []byte) ([]byte, error) {
	req, err := timestamp.ParseRequest(der)
	if err != nil {
		return a.reject(ctx, timestamp.BadDataFormat, "parse request: %v", err)
	}
	switch req.HashAlgorithm {
	case crypto.SHA256, crypto.SHA384, crypto.SHA512:
	default:
		return a.reject(ctx, timestamp.BadAlgorithm, "hash %v", req.HashAlgorithm)
	}
	if len(req.HashedMessage) != req.HashAlgorithm.Size() {
		return a.reject(ctx, timestamp.BadDataFormat, "imprint is %d bytes, %v needs %d", len(req.HashedMessage), req.HashAlgorithm, req.HashAlgorithm.Size())
	}
	if len(req.TSAPolicyOID) > 0 && !req.TSAPolicyOID.Equal(a.policy) {
		return a.reject(ctx, timestamp.UnacceptedPolicy, "policy %v", req.TSAPolicyOID)
	}
	if len(req.Extensions) > 0 {
		return a.reject(ctx, timestamp.UnacceptedExtension, "%d extensions", len(req.Extensions))
	}
	resp, err := a.issue(req.HashAlgorithm, req.HashedMessage, req.Nonce, req.Certificates)
	if err != nil {
		return nil, err
	}
	a.log.DebugContext(ctx, "timestamp issued over HTTP", "imprint", hex.EncodeToString(req.HashedMessage), "hash", req.HashAlgorithm)
	return resp, nil
}

func (a *Authority) reject(ctx context.Context, fi timestamp.FailureInfo, format string, args ...any) ([]byte, error) {
	a.log.InfoContext(ctx, "timestamp request rejected", "failure", fi.String(), "detail", fmt.Sprintf(format, args...))
	return timestamp.CreateErrorResponse(timestamp.Rejection, fi)
}

// Request asks the RFC 3161 authority at url for a token over digest, the
// SHA-256 of the data, with the authority's certificate included and a
// random nonce. It returns the DER TimeStampResp as received, after
// checking that it grants a token whose CMS signature verifies, whose
// imprint is digest and whose nonce is the one sent. It does not check the
// certificate chain: pass the result to VerifyDigest with the roots the
// authority is trusted under. A nil httpClient means a client with
// DefaultRequestTimeout. Errors wrap ErrRejected when the authority
// refused, ErrMalformed when the answer is not a valid response,
// ErrNonceMismatch when it lacks the nonce sent (a replayed or misrouted
// reply).
func Request(ctx context.Context, url string, digest []byte, httpClient *http.Client) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		return nil, fmt.Errorf("request timestamp from %s: %w", url, err)
	}
	if len(digest) != sha256.Size {
		return fail(fmt.Errorf("digest is %d bytes, want a %d-byte SHA-256", len(digest), sha256.Size))
	}
	nonce, err := newNonce()
	if err != nil {
		return fail(err)
	}
	q := timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, Certificates: true, Nonce: nonce}
	der, err := q.Marshal()
	if err != nil {
		return fail(err)
	}
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultRequestTimeout}
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(der))
	if err != nil {
		return fail(err)
	}
	hreq.Header.Set("Content-Type", QueryMediaType)
	hreq.Header.Set("Accept", ReplyMediaType)
	hresp, err := httpClient.Do(hreq)
	if err != nil {
		return fail(err)
	}
	defer hresp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(hresp.Body, maxReplySize+1))
	if err != nil {
		return fail(err)
	}
	if hresp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("HTTP status %s", hresp.Status))
	}
	if len(body) > maxReplySize {
		return fail(fmt.Errorf("%w: reply larger than %d bytes", ErrMalformed, maxReplySize))
	}
	// Some authorities answer application/timestamp-response, the name
	// used by drafts of RFC 3161.
	mt, _, _ := mime.ParseMediaType(hresp.Header.Get("Content-Type"))
	if mt != ReplyMediaType && mt != "application/timestamp-response" {
		return fail(fmt.Errorf("%w: reply Content-Type %q, want %s", ErrMalformed, hresp.Header.Get("Content-Type"), ReplyMediaType))
	}
	tok, err := tokenDER(body)
	if err != nil {
		return fail(err)
	}
	ts, err := timestamp.Parse(tok) // checks the CMS signature
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadSignature, err))
	}
	if !ts.AddTSACertificate {
		return fail(fmt.Errorf("%w: the token does not include the TSA certificate", ErrMalformed))
	}
	if ts.HashAlgorithm != crypto.SHA256 || !bytes.Equal(ts.HashedMessage, digest) {
		return fail(fmt.Errorf("%w: token stamps %v %x, asked for SHA-256 %x", ErrImprintMismatch, ts.HashAlgorithm, ts.HashedMessage, digest))
	}
	if err := checkNonce(ts.Nonce, nonce); err != nil {
		return fail(err)
	}
	return body, nil
}

// newNonce returns a random 64-bit nonce for a TimeStampReq (RFC 3161
// section 2.4.1): the reply must carry it back, so a reply recorded
// earlier, or made for another request, cannot be passed off as the answer.
func newNonce() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return n, nil
}

// checkNonce compares the nonce of a token with the one sent.
func checkNonce(got, sent *big.Int) error {
	switch {
	case got == nil:
		return fmt.Errorf("%w: the reply carries no nonce, sent %v", ErrNonceMismatch, sent)
	case got.Cmp(sent) != 0:
		return fmt.Errorf("%w: reply nonce %v, sent %v", ErrNonceMismatch, got, sent)
	}
	return nil
}

// Client stamps digests at an external RFC 3161 authority. Its Timestamp
// method has the shape of Authority.Timestamp, so either can serve where a
// timestamper is needed. It is safe for concurrent use.
type Client struct {
	URL  string       // the authority's HTTP(S) endpoint
	HTTP *http.Client // nil: a client with DefaultRequestTimeout
	// TrustedRoots are the roots the authority's certificates chain to;
	// when set, Timestamp verifies every token against them before
	// returning it.
	TrustedRoots *x509.CertPool
}

// Timestamp returns a DER TimeStampResp over digest (see Request), checked
// with VerifyDigest when TrustedRoots is set.
func (c *Client) Timestamp(ctx context.Context, digest []byte) ([]byte, error) {
	resp, err := Request(ctx, c.URL, digest, c.HTTP)
	if err != nil {
		return nil, err
	}
	if c.TrustedRoots != nil {
		if _, err := VerifyDigest(resp, digest, c.TrustedRoots); err != nil {
			return nil, fmt.Errorf("request timestamp from %s: %w", c.URL, err)
		}
	}
	return resp, nil
}

// Roots returns the client's TrustedRoots.
func (c *Client) Roots() *x509.CertPool { return c.TrustedRoots }
