package tsa_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"shopwatch/internal/testparts"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/timestamp"

	"shopwatch/evidence/tsa"
)

var quiet = slog.New(slog.DiscardHandler)

func newAuthority(t testing.TB, opts ...tsa.Option) *tsa.Authority {
	t.Helper()
	opts = append([]tsa.Option{tsa.WithLogger(quiet)}, opts...)
	a, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "tsa"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func stamp(t testing.TB, a *tsa.Authority, data []byte) []byte {
	t.Helper()
	sum := sha256.Sum256(data)
	tok, err := a.Timestamp(context.Background(), sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestTimestampRoundTrip(t *testing.T) {
	a := newAuthority(t)
	data := []byte(`{"format":"shopwatch-evidence-manifest/1"}` + "\n")
	before := time.Now().Add(-time.Second)
	resp := stamp(t, a, data)

	info, err := tsa.Verify(resp, data, a.Roots())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if info.GenTime.Before(before.Truncate(time.Second)) || info.GenTime.After(time.Now()) {
		t.Errorf("GenTime = %v, want about now", info.GenTime)
	}
	if info.GenTime.Location() != time.UTC {
		t.Errorf("GenTime location = %v, want UTC", info.GenTime.Location())
	}
	if info.Serial == nil || info.Serial.Sign() <= 0 {
		t.Errorf("Serial = %v, want a positive number", info.Serial)
	}
	if !info.Policy.Equal(tsa.DefaultPolicy) {
		t.Errorf("Policy = %v, want %v", info.Policy, tsa.DefaultPolicy)
	}
	if !strings.Contains(info.TSA, "shopwatch TSA") {
		t.Errorf("TSA = %q, want the signing certificate's subject", info.TSA)
	}
	if len(info.Chain) != 2 || !info.Chain[1].Equal(a.Root()) || !info.Certificate.Equal(a.Certificate()) {
		t.Errorf("Chain has %d certificates, want signing certificate then root", len(info.Chain))
	}
	sum := sha256.Sum256(data)
	if _, err := tsa.VerifyDigest(resp, sum[:], a.Roots()); err != nil {
		t.Errorf("VerifyDigest: %v", err)
	}

	// The bare token verifies too, and is what the response carries.
	tok, err := tsa.Token(resp)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(tok, resp) {
		t.Fatal("Token returned the response unchanged")
	}
	if _, err := tsa.Verify(tok, data, a.Roots()); err != nil {
		t.Errorf("Verify bare token: %v", err)
	}
	if again, err := tsa.Token(tok); err != nil || !bytes.Equal(again, tok) {
		t.Errorf("Token(bare token) = %d bytes, %v; want it unchanged", len(again), err)
	}

	// Each token has its own serial.
	info2, err := tsa.Verify(stamp(t, a, data), data, a.Roots())
	if err != nil {
		t.Fatal(err)
	}
	if info2.Serial.Cmp(info.Serial) == 0 {
		t.Errorf("two tokens share serial %v", info.Serial)
	}
}

func TestVerifyRejects(t *testing.T) {
	a := newAuthority(t)
	other := newAuthority(t)
	data := []byte("manifest bytes")
	resp := stamp(t, a, data)
	tok, err := tsa.Token(resp)
	if err != nil {
		t.Fatal(err)
	}

	changed := bytes.Clone(data)
	changed[3] ^= 0x01
	// A byte of the signed TSTInfo flipped: the imprint is inside it.
	sum := sha256.Sum256(data)
	at := bytes.Index(resp, sum[:])
	if at < 0 {
		t.Fatal("imprint not found in the response")
	}
	forged := bytes.Clone(resp)
	forged[at] ^= 0x01
	forgedDigest := bytes.Clone(forged[at : at+32])

	tests := []struct {
		name   string
		token  []byte
		data   []byte
		digest []byte // when set, VerifyDigest instead of Verify
		roots  *x509.CertPool
		want   error
	}{
		{name: "changed data byte", token: resp, data: changed, roots: a.Roots(), want: tsa.ErrImprintMismatch},
		{name: "empty data", token: resp, roots: a.Roots(), want: tsa.ErrImprintMismatch},
		{name: "other digest", token: resp, digest: forgedDigest, roots: a.Roots(), want: tsa.ErrImprintMismatch},
		{name: "other authority's root", token: resp, data: data, roots: other.Roots(), want: tsa.ErrUntrusted},
		{name: "no roots", token: resp, data: data, roots: nil, want: tsa.ErrUntrusted},
		{name: "empty pool", token: resp, data: data, roots: x509.NewCertPool(), want: tsa.ErrUntrusted},
		{name: "other authority's token", token: stamp(t, other, data), data: data, roots: a.Roots(), want: tsa.ErrUntrusted},
		{name: "truncated response", token: resp[:len(resp)-10], data: data, roots: a.Roots(), want: tsa.ErrMalformed},
		{name: "truncated token", token: tok[:len(tok)/2], data: data, roots: a.Roots(), want: tsa.ErrMalformed},
		{name: "trailing bytes", token: append(bytes.Clone(resp), 0), data: data, roots: a.Roots(), want: tsa.ErrMalformed},
		{name: "empty", data: data, roots: a.Roots(), want: tsa.ErrMalformed},
		{name: "not DER", token: []byte("hello, world"), data: data, roots: a.Roots(), want: tsa.ErrMalformed},
		{name: "imprint altered in the token", token: forged, digest: forgedDigest, roots: a.Roots(), want: tsa.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var info *tsa.Info
			var err error
			if tt.digest != nil {
				info, err = tsa.VerifyDigest(tt.token, tt.digest, tt.roots)
			} else {
				info, err = tsa.Verify(tt.token, tt.data, tt.roots)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("verify = %+v, %v; want an error wrapping %v", info, err, tt.want)
			}
		})
	}
}

func TestOpenSSLVerifies(t *testing.T) {
	openssl := testparts.Tool(t, "openssl")
	a := newAuthority(t)
	dir := t.TempDir()
	data := []byte("{\"evidence_id\": \"ev-20260301T101500Z-3fa9c2e1b7d0\"}\n")
	resp := stamp(t, a, data)
	tok, err := tsa.Token(resp)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dataPath := write("manifest.json", data)
	changedPath := write("changed.json", append(bytes.Clone(data[:len(data)-1]), ' ', '\n'))
	tsrPath := write("timestamp.tsr", resp)
	tokPath := write("timestamp.tst", tok)
	rootPath := write("tsa-root.pem", a.RootPEM())
	otherRoot := write("other-root.pem", newAuthority(t).RootPEM())

	run := func(args ...string) (string, error) {
		out, err := exec.Command(openssl, args...).CombinedOutput()
		return string(out), err
	}
	for _, args := range [][]string{
		{"ts", "-verify", "-data", dataPath, "-in", tsrPath, "-CAfile", rootPath},
		{"ts", "-verify", "-data", dataPath, "-in", tokPath, "-token_in", "-CAfile", rootPath},
	} {
		out, err := run(args...)
		if err != nil || !strings.Contains(out, "Verification: OK") {
			t.Errorf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, args := range [][]string{
		{"ts", "-verify", "-data", changedPath, "-in", tsrPath, "-CAfile", rootPath},
		{"ts", "-verify", "-data", dataPath, "-in", tsrPath, "-CAfile", otherRoot},
	} {
		if out, err := run(args...); err == nil || strings.Contains(out, "Verification: OK") {
			t.Errorf("openssl %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
		}
	}
	// openssl reads the policy, serial and time shopwatch reports.
	info, err := tsa.Verify(resp, data, a.Roots())
	if err != nil {
		t.Fatal(err)
	}
	out, err := run("ts", "-reply", "-in", tsrPath, "-text")
	if err != nil {
		t.Fatalf("openssl ts -reply -text: %v\n%s", err, out)
	}
	for _, want := range []string{"Status: Granted", "Policy OID: " + info.Policy.String(), "Time stamp: " + info.GenTime.Format("Jan _2 15:04:05 2006 GMT")} {
		if !strings.Contains(out, want) {
			t.Errorf("openssl ts -reply -text lacks %q:\n%s", want, out)
		}
	}
}

func TestHTTPRoundTrip(t *testing.T) {
	a := newAuthority(t)
	srv := httptest.NewServer(a.Handler()) // listens on 127.0.0.1
	defer srv.Close()
	ctx := context.Background()
	data := []byte("bytes of manifest.json")
	sum := sha256.Sum256(data)

	resp, err := tsa.Request(ctx, srv.URL, sum[:], srv.Client())
	if err != nil {
		t.Fatalf("Request: %v", err)
	}
	info, err := tsa.Verify(resp, data, a.Roots())
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if info.Nonce == nil {
		t.Error("token over HTTP carries no nonce")
	}

	c := &tsa.Client{URL: srv.URL, HTTP: srv.Client(), TrustedRoots: a.Roots()}
	if _, err := c.Timestamp(ctx, sum[:]); err != nil {
		t.Errorf("Client.Timestamp: %v", err)
	}
	untrusting := &tsa.Client{URL: srv.URL, HTTP: srv.Client(), TrustedRoots: newAuthority(t).Roots()}
	if _, err := untrusting.Timestamp(ctx, sum[:]); !errors.Is(err, tsa.ErrUntrusted) {
		t.Errorf("Client.Timestamp with other roots = %v, want ErrUntrusted", err)
	}
	if _, err := tsa.Request(ctx, srv.URL, sum[:5], srv.Client()); err == nil {
		t.Error("Request with a 5-byte digest succeeded")
	}
}

func TestHandlerRejects(t *testing.T) {
	a := newAuthority(t)
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	sum := sha256.Sum256([]byte("x"))

	post := func(t *testing.T, contentType string, body []byte) (*http.Response, []byte) {
		t.Helper()
		resp, err := srv.Client().Post(srv.URL, contentType, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	query := func(t *testing.T, r timestamp.Request) []byte {
		t.Helper()
		b, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	t.Run("GET", func(t *testing.T) {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("status %d, want 405", resp.StatusCode)
		}
	})
	t.Run("wrong media type", func(t *testing.T) {
		resp, _ := post(t, "application/octet-stream", query(t, timestamp.Request{HashAlgorithm: crypto256, HashedMessage: sum[:]}))
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("status %d, want 415", resp.StatusCode)
		}
	})
	for _, tt := range []struct {
		name string
		body []byte
	}{
		{"garbage", []byte("not a request")},
		{"other policy", query(t, timestamp.Request{HashAlgorithm: crypto256, HashedMessage: sum[:], TSAPolicyOID: []int{1, 2, 3, 4}})},
		{"short imprint", query(t, timestamp.Request{HashAlgorithm: crypto256, HashedMessage: sum[:8]})},
		{"too large", bytes.Repeat([]byte{0x30}, 20<<10)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(t, tsa.QueryMediaType, tt.body)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != tsa.ReplyMediaType {
				t.Fatalf("status %d, type %q; want 200 %s", resp.StatusCode, resp.Header.Get("Content-Type"), tsa.ReplyMediaType)
			}
			if _, err := tsa.Token(body); !errors.Is(err, tsa.ErrRejected) {
				t.Errorf("Token(reply) = %v, want ErrRejected", err)
			}
		})
	}
	t.Run("no certReq", func(t *testing.T) {
		_, body := post(t, tsa.QueryMediaType, query(t, timestamp.Request{HashAlgorithm: crypto256, HashedMessage: sum[:]}))
		_, err := tsa.VerifyDigest(body, sum[:], a.Roots())
		if !errors.Is(err, tsa.ErrMalformed) || !strings.Contains(err.Error(), "certificate") {
			t.Errorf("VerifyDigest of a token without certificate = %v, want ErrMalformed naming the certificate", err)
		}
	})
}

func TestAuthorityPersists(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "tsa")
	a1, err := tsa.LoadOrCreateAuthority(dir, tsa.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	resp := stamp(t, a1, []byte("kept"))
	a2, err := tsa.LoadOrCreateAuthority(dir, tsa.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a1.RootPEM(), a2.RootPEM()) || !a1.Certificate().Equal(a2.Certificate()) {
		t.Fatal("second LoadOrCreateAuthority made a new authority")
	}
	if _, err := tsa.Verify(resp, []byte("kept"), a2.Roots()); err != nil {
		t.Errorf("token of the first load against the second: %v", err)
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, tsa.RootCertFile))
	if err != nil || !bytes.Equal(onDisk, a1.RootPEM()) {
		t.Errorf("root.pem on disk differs from RootPEM (%v)", err)
	}
	for name, want := range map[string]os.FileMode{
		tsa.RootKeyFile: 0o600, tsa.KeyFile: 0o600, tsa.RootCertFile: 0o644, tsa.CertFile: 0o644, ".": 0o700,
	} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s mode %v, want %v", name, got, want)
		}
	}
	entries, err := os.ReadDir(filepath.Dir(dir))
	if err != nil || len(entries) != 1 {
		t.Errorf("parent folder holds %v (%v), want only the authority folder", entries, err)
	}

	// A key others can read is refused.
	if err := os.Chmod(filepath.Join(dir, tsa.KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.LoadOrCreateAuthority(dir, tsa.WithLogger(quiet)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("load with a readable key = %v, want a refusal", err)
	}
	os.Chmod(filepath.Join(dir, tsa.KeyFile), 0o600)

	// A signing certificate from another authority is refused.
	other := newAuthority(t)
	if err := os.WriteFile(filepath.Join(dir, tsa.CertFile), pemCert(other.Certificate().Raw), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := tsa.LoadOrCreateAuthority(dir, tsa.WithLogger(quiet)); err == nil {
		t.Error("load with a foreign tsa.pem succeeded")
	}

	// A folder with other files and no authority is refused.
	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "notes.txt"), []byte("x"), 0o644)
	if _, err := tsa.LoadOrCreateAuthority(busy, tsa.WithLogger(quiet)); err == nil {
		t.Error("LoadOrCreateAuthority in a folder of other files succeeded")
	}
	// An empty folder is used.
	empty := t.TempDir()
	if _, err := tsa.LoadOrCreateAuthority(empty, tsa.WithLogger(quiet)); err != nil {
		t.Errorf("LoadOrCreateAuthority in an empty folder: %v", err)
	}
}

func TestConcurrentCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tsa")
	const n = 8
	roots := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			a, err := tsa.LoadOrCreateAuthority(dir, tsa.WithLogger(quiet))
			if err != nil {
				t.Error(err)
				return
			}
			roots[i] = a.RootPEM()
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(roots[i], roots[0]) {
			t.Fatalf("loader %d got another root than loader 0", i)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("parent folder holds %d entries, want 1 (staging folders left behind?)", len(entries))
	}
}

func TestExpiredAuthorityRefuses(t *testing.T) {
	// An authority made 21 years ago: its signing certificate expired a
	// year ago, so it must not stamp any more.
	clock := time.Now().AddDate(-21, 0, 0)
	a := newAuthority(t, tsa.WithClock(func() time.Time { return clock }))
	clock = time.Now()
	sum := sha256.Sum256([]byte("new"))
	if _, err := a.Timestamp(context.Background(), sum[:]); err == nil || !strings.Contains(err.Error(), "validity") {
		t.Errorf("Timestamp with an expired certificate = %v, want a refusal naming the validity", err)
	}
}

func TestTimestampArguments(t *testing.T) {
	a := newAuthority(t)
	if _, err := a.Timestamp(context.Background(), []byte("short")); err == nil {
		t.Error("Timestamp of a 5-byte digest succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	sum := sha256.Sum256(nil)
	if _, err := a.Timestamp(ctx, sum[:]); !errors.Is(err, context.Canceled) {
		t.Errorf("Timestamp with a cancelled context = %v, want context.Canceled", err)
	}
	if _, err := tsa.LoadOrCreateAuthority(t.TempDir(), tsa.WithPolicy([]int{2, 25, 1 << 40})); err == nil {
		t.Error("a policy arc of 2^40 was accepted")
	}
	pol := []int{2, 25, 42}
	b := newAuthority(t, tsa.WithPolicy(pol))
	info, err := tsa.Verify(stamp(t, b, []byte("p")), []byte("p"), b.Roots())
	if err != nil || info.Policy.String() != "2.25.42" {
		t.Errorf("policy = %v, %v; want 2.25.42", info, err)
	}
}

const crypto256 = crypto.SHA256

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// The built-in authority's tokens carry a nonce, as tokens over HTTP do.
func TestTimestampCarriesNonce(t *testing.T) {
	a := newAuthority(t)
	data := []byte("manifest")
	first, err := tsa.Verify(stamp(t, a, data), data, a.Roots())
	if err != nil {
		t.Fatal(err)
	}
	second, err := tsa.Verify(stamp(t, a, data), data, a.Roots())
	if err != nil {
		t.Fatal(err)
	}
	if first.Nonce == nil || second.Nonce == nil {
		t.Fatalf("tokens of the built-in authority carry no nonce: %v, %v", first.Nonce, second.Nonce)
	}
	if first.Nonce.Cmp(second.Nonce) == 0 {
		t.Errorf("two tokens share the nonce %v", first.Nonce)
	}
}

// A reply that does not carry back the request's nonce is refused: one
// replayed from an earlier request, and one made for a request without a
// nonce. The authority is real; a loopback relay in front of it does the
// replaying and the stripping.
func TestRequestRefusesWrongNonce(t *testing.T) {
	a := newAuthority(t)
	upstream := httptest.NewServer(a.Handler())
	t.Cleanup(upstream.Close)
	forward := func(t *testing.T, der []byte) []byte {
		resp, err := http.Post(upstream.URL, tsa.QueryMediaType, bytes.NewReader(der))
		if err != nil {
			t.Error(err)
			return nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	reply := func(w http.ResponseWriter, b []byte) {
		w.Header().Set("Content-Type", tsa.ReplyMediaType)
		w.Write(b)
	}
	var mu sync.Mutex
	var recorded []byte
	replay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		der, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if recorded == nil {
			recorded = forward(t, der)
		}
		reply(w, recorded)
	}))
	t.Cleanup(replay.Close)
	strip := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		der, _ := io.ReadAll(r.Body)
		q, err := timestamp.ParseRequest(der)
		if err != nil {
			t.Error(err)
			return
		}
		q.Nonce = nil
		der, err = q.Marshal()
		if err != nil {
			t.Error(err)
			return
		}
		reply(w, forward(t, der))
	}))
	t.Cleanup(strip.Close)

	ctx := context.Background()
	sum := sha256.Sum256([]byte("manifest"))
	if _, err := tsa.Request(ctx, replay.URL, sum[:], nil); err != nil {
		t.Fatalf("first request through the relay: %v", err)
	}
	if _, err := tsa.Request(ctx, replay.URL, sum[:], nil); !errors.Is(err, tsa.ErrNonceMismatch) || !strings.Contains(err.Error(), "reply nonce") {
		t.Errorf("Request answered with a replayed reply = %v, want ErrNonceMismatch", err)
	}
	c := &tsa.Client{URL: strip.URL, TrustedRoots: a.Roots()}
	if _, err := c.Timestamp(ctx, sum[:]); !errors.Is(err, tsa.ErrNonceMismatch) || !strings.Contains(err.Error(), "no nonce") {
		t.Errorf("Client.Timestamp answered without a nonce = %v, want ErrNonceMismatch", err)
	}
}
