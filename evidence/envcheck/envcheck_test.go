package envcheck_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm3"

	"shopwatch/evidence/envcheck"
	"shopwatch/evidence/tsa"
)

// fakeClock is a time source that runs off by a fixed amount.
type fakeClock struct {
	off time.Duration
	err error
}

func (f fakeClock) Now(context.Context) (time.Time, string, error) {
	if f.err != nil {
		return time.Time{}, "", f.err
	}
	return time.Now().Add(f.off), "fake", nil
}

// clearProxy blanks every proxy variable for the test, so that the host's
// own settings cannot decide it. Empty variables do not fail the check.
func clearProxy(t *testing.T) {
	t.Helper()
	for _, n := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "AUTO_PROXY", "SOCKS_SERVER"} {
		t.Setenv(n, "")
		t.Setenv(strings.ToLower(n), "")
	}
}

// emptyHosts returns the path of an empty hosts file.
func emptyHosts(t *testing.T) string {
	t.Helper()
	return writeFile(t, "hosts", "")
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func check(t *testing.T, cfg envcheck.Config) *envcheck.Report {
	t.Helper()
	if cfg.HostsFile == "" {
		cfg.HostsFile = emptyHosts(t)
	}
	r, err := envcheck.Check(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return r
}

func result(t *testing.T, r *envcheck.Report, name string) envcheck.Result {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, r.Checks)
	return envcheck.Result{}
}

func TestClock(t *testing.T) {
	clearProxy(t)
	for _, tc := range []struct {
		name string
		off  time.Duration
		max  time.Duration
		ok   bool
	}{
		{"5s fast", 5 * time.Second, 0, false},
		{"5s slow", -5 * time.Second, 0, false},
		{"0.5s fast", 500 * time.Millisecond, 0, true},
		{"0.5s slow", -500 * time.Millisecond, 0, true},
		{"5s within a 10s limit", 5 * time.Second, 10 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := check(t, envcheck.Config{TimeSource: fakeClock{off: tc.off}, MaxClockOffset: tc.max})
			c := result(t, r, envcheck.CheckClock)
			if c.OK != tc.ok || r.OK() != tc.ok {
				t.Fatalf("clock check ok=%v report ok=%v, want %v: %s", c.OK, r.OK(), tc.ok, c.Detail)
			}
			if d := r.Clock.Offset - tc.off; d < -100*time.Millisecond || d > 100*time.Millisecond {
				t.Errorf("offset %v, want about %v", r.Clock.Offset, tc.off)
			}
			if !r.Clock.Verified || r.Clock.Source != "fake" {
				t.Errorf("clock %+v: want verified, source fake", r.Clock)
			}
			if !tc.ok && (len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], "clock: ")) {
				t.Errorf("problems %q, want one clock problem", r.Problems)
			}
		})
	}
}

func TestClockSourceError(t *testing.T) {
	clearProxy(t)
	r := check(t, envcheck.Config{TimeSource: fakeClock{err: errors.New("unreachable")}})
	if c := result(t, r, envcheck.CheckClock); c.OK || !strings.Contains(c.Detail, "unreachable") {
		t.Fatalf("clock check %+v, want a failure naming the error", c)
	}
}

func TestSystemClockUnverified(t *testing.T) {
	clearProxy(t)
	for _, src := range []envcheck.TimeSource{nil, envcheck.SystemClock{}} {
		r := check(t, envcheck.Config{TimeSource: src})
		c := result(t, r, envcheck.CheckClock)
		if c.Status != envcheck.StatusUnverified || !c.OK {
			t.Errorf("source %T: clock check %+v, want unverified and not failed", src, c)
		}
		if r.Clock.Source != envcheck.SystemClockSource || r.Clock.Verified || r.Clock.Offset != 0 {
			t.Errorf("source %T: clock %+v", src, r.Clock)
		}
		if !r.OK() {
			t.Errorf("source %T: report fails: %q", src, r.Problems)
		}
	}
}

func TestProxy(t *testing.T) {
	clearProxy(t)
	t.Setenv("HTTPS_PROXY", "http://agent:s3cret@proxy.example:3128")
	t.Setenv("no_proxy", "localhost")

	r := check(t, envcheck.Config{})
	c := result(t, r, envcheck.CheckProxy)
	if c.OK || r.OK() || !strings.Contains(c.Detail, "HTTPS_PROXY") {
		t.Fatalf("proxy check %+v, want a failure naming HTTPS_PROXY", c)
	}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "s3cret") {
		t.Errorf("the proxy password reached the report:\n%s", b)
	}
	found := false
	for _, v := range r.ProxyEnv {
		if v.Name == "HTTPS_PROXY" {
			found = strings.Contains(v.Value, "agent:xxxxx@proxy.example:3128")
		}
	}
	if !found {
		t.Errorf("proxy env %+v: HTTPS_PROXY missing or not redacted", r.ProxyEnv)
	}

	r = check(t, envcheck.Config{AllowProxy: true})
	if c := result(t, r, envcheck.CheckProxy); !c.OK || !r.OK() || !strings.Contains(c.Detail, "HTTPS_PROXY") {
		t.Fatalf("with AllowProxy: proxy check %+v, problems %q", c, r.Problems)
	}
}

func TestProxyNoProxyOnly(t *testing.T) {
	clearProxy(t)
	t.Setenv("NO_PROXY", "internal.example")
	r := check(t, envcheck.Config{})
	if c := result(t, r, envcheck.CheckProxy); !c.OK {
		t.Fatalf("NO_PROXY alone: %+v", c)
	}
}

func TestHostsPinned(t *testing.T) {
	clearProxy(t)
	hosts := writeFile(t, "hosts", "127.0.0.1\tlocalhost\n"+
		"::1 localhost ip6-localhost\n"+
		"# 10.0.0.1 shop.example.com (a comment)\n"+
		"203.0.113.7  cdn.example.net   Shop.Example.COM.  # pinned\n")
	r := check(t, envcheck.Config{
		HostsFile: hosts,
		Targets:   []string{"https://shop.example.com/item/1?id=2", "other.example.org:443"},
	})
	c := result(t, r, envcheck.CheckHosts)
	if c.OK || r.OK() {
		t.Fatalf("hosts check %+v, want a failure", c)
	}
	if !strings.Contains(c.Detail, "line 4") || !strings.Contains(c.Detail, "203.0.113.7") || !strings.Contains(c.Detail, "shop.example.com") {
		t.Errorf("detail %q does not name the line", c.Detail)
	}
	if len(r.HostsEntries) != 1 || r.HostsEntries[0].Line != 4 || r.HostsEntries[0].Address != "203.0.113.7" {
		t.Errorf("entries %+v, want line 4 only", r.HostsEntries)
	}
	if got := strings.Join(r.Targets, ","); got != "shop.example.com,other.example.org" {
		t.Errorf("targets %q", got)
	}
}

func TestHostsUnrelated(t *testing.T) {
	clearProxy(t)
	hosts := writeFile(t, "hosts", "127.0.0.1 localhost\n"+
		"192.0.2.5 shop.example.com.evil.test notshop.example.com\n"+
		"192.0.2.6 img.shop.example.com\n")
	r := check(t, envcheck.Config{HostsFile: hosts, Targets: []string{"shop.example.com", "127.0.0.1:8080"}})
	c := result(t, r, envcheck.CheckHosts)
	if !c.OK || !r.OK() {
		t.Fatalf("hosts check %+v, problems %q", c, r.Problems)
	}
	// The subdomain line is recorded but does not pin the target.
	if len(r.HostsEntries) != 1 || r.HostsEntries[0].Line != 3 || len(r.HostsEntries[0].Pinned) != 0 {
		t.Errorf("entries %+v, want line 3 recorded, unpinned", r.HostsEntries)
	}
}

func TestHostsMissingFile(t *testing.T) {
	clearProxy(t)
	r := check(t, envcheck.Config{HostsFile: filepath.Join(t.TempDir(), "none"), Targets: []string{"shop.example.com"}})
	if c := result(t, r, envcheck.CheckHosts); !c.OK {
		t.Fatalf("hosts check %+v", c)
	}
}

func TestBinaries(t *testing.T) {
	clearProxy(t)
	content := "#!/bin/sh\necho capture\n"
	bin := writeFile(t, "chromium", content)
	link := filepath.Join(t.TempDir(), "chromium-link")
	if err := os.Symlink(bin, link); err != nil {
		t.Fatal(err)
	}

	r := check(t, envcheck.Config{Binaries: map[string]string{"chromium": link}})
	if !r.OK() {
		t.Fatalf("problems %q", r.Problems)
	}
	if len(r.Binaries) != 1 {
		t.Fatalf("binaries %+v", r.Binaries)
	}
	b := r.Binaries[0]
	sha := sha256.Sum256([]byte(content))
	sm := sm3.Sum([]byte(content))
	if b.SHA256 != "sha256:"+hex.EncodeToString(sha[:]) {
		t.Errorf("sha256 %s, want %x", b.SHA256, sha)
	}
	if b.SM3 != "sm3:"+hex.EncodeToString(sm[:]) {
		t.Errorf("sm3 %s, want %x", b.SM3, sm)
	}
	if b.Size != int64(len(content)) || b.Name != "chromium" || b.Path != link || b.Resolved != bin {
		t.Errorf("binary %+v", b)
	}
	if c := result(t, r, "binary chromium"); !c.OK {
		t.Errorf("binary check %+v", c)
	}
}

func TestBinaryMissing(t *testing.T) {
	clearProxy(t)
	self := writeFile(t, "shopwatch", "x")
	missing := filepath.Join(t.TempDir(), "chromium")
	r := check(t, envcheck.Config{Binaries: map[string]string{"shopwatch": self, "chromium": missing, "dir": t.TempDir()}})
	if r.OK() {
		t.Fatal("report OK with a missing binary")
	}
	if c := result(t, r, "binary chromium"); c.OK || !strings.Contains(c.Detail, missing) {
		t.Errorf("missing binary check %+v, want a failure naming %s", c, missing)
	}
	if c := result(t, r, "binary dir"); c.OK || !strings.Contains(c.Detail, "not a regular file") {
		t.Errorf("directory binary check %+v", c)
	}
	if c := result(t, r, "binary shopwatch"); !c.OK {
		t.Errorf("present binary check %+v", c)
	}
	if len(r.Problems) != 2 || !strings.HasPrefix(r.Problems[0], "binary chromium: ") {
		t.Errorf("problems %q", r.Problems)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "binary chromium") {
		t.Errorf("Err() = %v", err)
	}
}

func TestNoBinariesUnverified(t *testing.T) {
	clearProxy(t)
	r := check(t, envcheck.Config{})
	if c := result(t, r, envcheck.CheckBinaries); c.Status != envcheck.StatusUnverified || !c.OK {
		t.Errorf("binaries check %+v", c)
	}
}

func newAuthority(t *testing.T, opts ...tsa.Option) *tsa.Authority {
	t.Helper()
	opts = append([]tsa.Option{tsa.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	a, err := tsa.LoadOrCreateAuthority(filepath.Join(t.TempDir(), "tsa"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestTSATime(t *testing.T) {
	clearProxy(t)
	a := newAuthority(t)
	src := envcheck.TSATime{TSA: a, Roots: a.Roots()}

	before := time.Now()
	got, name, err := src.Now(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d := got.Sub(before); d < -2*time.Second || d > 2*time.Second {
		t.Errorf("genTime %v is %v from the local clock", got, d)
	}
	if !strings.HasPrefix(name, "rfc3161 ") || !strings.Contains(name, "shopwatch") {
		t.Errorf("source name %q", name)
	}

	r := check(t, envcheck.Config{TimeSource: src})
	c := result(t, r, envcheck.CheckClock)
	if !c.OK || c.Status != envcheck.StatusPass {
		t.Fatalf("clock check %+v", c)
	}
	if off := r.Clock.Offset; off < -2*time.Second || off > 2*time.Second {
		t.Errorf("offset %v", off)
	}
	// genTime is in whole seconds: the reading spans one second.
	if w := r.Clock.SourceTo.Sub(r.Clock.SourceFrom); w != time.Second {
		t.Errorf("source interval %v, want 1s", w)
	}
	if r.Clock.Uncertainty < 500*time.Millisecond || r.Clock.Uncertainty > time.Second {
		t.Errorf("uncertainty %v", r.Clock.Uncertainty)
	}
}

func TestTSATimeSkewedAuthority(t *testing.T) {
	clearProxy(t)
	a := newAuthority(t, tsa.WithClock(func() time.Time { return time.Now().Add(5 * time.Second) }))
	r := check(t, envcheck.Config{TimeSource: envcheck.TSATime{TSA: a, Roots: a.Roots()}})
	if c := result(t, r, envcheck.CheckClock); c.OK {
		t.Fatalf("clock check %+v against an authority 5s ahead", c)
	}
	if r.Clock.Offset < 4*time.Second || r.Clock.Offset > 6*time.Second {
		t.Errorf("offset %v, want about 5s", r.Clock.Offset)
	}
}

func TestTSATimeUntrusted(t *testing.T) {
	a, other := newAuthority(t), newAuthority(t)
	_, _, err := envcheck.TSATime{TSA: a, Roots: other.Roots()}.Now(t.Context())
	if !errors.Is(err, tsa.ErrUntrusted) {
		t.Fatalf("err = %v, want ErrUntrusted", err)
	}
	if _, _, err := (envcheck.TSATime{TSA: a}).Now(t.Context()); err == nil {
		t.Fatal("no roots: no error")
	}
}

func TestReportJSON(t *testing.T) {
	clearProxy(t)
	t.Setenv("ALL_PROXY", "socks5://proxy.example:1080")
	r := check(t, envcheck.Config{Version: "1.2.3", TimeSource: fakeClock{}, Versions: map[string]string{"chromium": "Chrome/140"}})
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), "}\n") || !strings.HasPrefix(string(b), "{\n  \"ok\": false,") {
		t.Errorf("form:\n%s", b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"format", "checked_at", "host", "os", "arch", "go_version", "shopwatch_version", "clock", "proxy_env", "hosts_entries", "binaries", "checks", "problems"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if m["format"] != envcheck.Format || m["shopwatch_version"] != "1.2.3" {
		t.Errorf("format %v, version %v", m["format"], m["shopwatch_version"])
	}
	var back envcheck.Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.OK() || len(back.Problems) != 1 || !back.CheckedAt.Equal(r.CheckedAt) || back.CheckedAt.Location() != time.UTC {
		t.Errorf("round trip: ok=%v problems=%q checked_at=%v", back.OK(), back.Problems, back.CheckedAt)
	}
}

func TestCheckRejects(t *testing.T) {
	if _, err := envcheck.Check(t.Context(), envcheck.Config{MaxClockOffset: -time.Second}); err == nil {
		t.Error("negative MaxClockOffset accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := envcheck.Check(ctx, envcheck.Config{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
