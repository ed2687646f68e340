package envcheck_test

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"shopwatch/evidence/envcheck"
	"shopwatch/evidence/tsa"
	"shopwatch/internal/testparts"
)

// hostOff returns a host clock that runs off by d.
func hostOff(d time.Duration) func() time.Time {
	return func() time.Time { return time.Now().Add(d) }
}

// externalTSA starts an openssl authority on loopback and returns a time
// source backed by it, verified against its own root.
func externalTSA(t *testing.T) envcheck.TSATime {
	t.Helper()
	ext := testparts.StartOpenSSLTSA(t)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ext.RootPEM) {
		t.Fatal("openssl TSA root: no PEM certificate")
	}
	return envcheck.TSATime{TSA: &tsa.Client{URL: ext.URL, TrustedRoots: roots}, Roots: roots}
}

func TestExternalTSAClock(t *testing.T) {
	clearProxy(t)
	src := externalTSA(t)

	t.Run("in sync", func(t *testing.T) {
		// openssl's tokens carry whole seconds and a one-second accuracy,
		// so they bound the offset to about three seconds at best: the
		// limit of an office using such an authority is wider than 2s.
		r := check(t, envcheck.Config{TimeSource: src, MaxClockOffset: 5 * time.Second})
		c := result(t, r, envcheck.CheckClock)
		if c.Status != envcheck.StatusPass || !r.Clock.Verified || r.Clock.SelfReferential {
			t.Fatalf("clock check %+v, clock %+v: want a verified pass", c, r.Clock)
		}
		if !strings.Contains(r.Clock.Source, "External TSA test authority") {
			t.Errorf("source %q does not name the external authority", r.Clock.Source)
		}
	})

	t.Run("host 10 minutes behind", func(t *testing.T) {
		r := check(t, envcheck.Config{TimeSource: src, Now: hostOff(-10 * time.Minute)})
		c := result(t, r, envcheck.CheckClock)
		if c.OK || c.Status != envcheck.StatusFail || r.OK() || r.Err() == nil {
			t.Fatalf("clock check %+v: want a failure", c)
		}
		if r.Clock.Offset < 9*time.Minute || r.Clock.Offset > 11*time.Minute {
			t.Errorf("offset %v, want about +10m", r.Clock.Offset)
		}
		host := r.Clock.LocalBefore.Format("2006-01-02T15:04")
		source := r.Clock.SourceFrom.Format("2006-01-02T15:04")
		if host == source || !strings.Contains(c.Detail, "host clock "+host) || !strings.Contains(c.Detail, "source "+source) {
			t.Errorf("detail %q does not name both times (host %s, source %s)", c.Detail, host, source)
		}
	})

	t.Run("host 10 minutes ahead", func(t *testing.T) {
		r := check(t, envcheck.Config{TimeSource: src, Now: hostOff(10 * time.Minute)})
		if c := result(t, r, envcheck.CheckClock); c.OK {
			t.Fatalf("clock check %+v: want a failure", c)
		}
	})

	t.Run("wrong root", func(t *testing.T) {
		other := newAuthority(t)
		bad := src
		bad.Roots = other.Roots()
		r := check(t, envcheck.Config{TimeSource: bad})
		if c := result(t, r, envcheck.CheckClock); c.OK || r.Clock.Verified {
			t.Fatalf("clock check %+v against a token the root does not vouch for: want a failure", c)
		}
	})
}

func TestBuiltinAuthoritySelfReferential(t *testing.T) {
	clearProxy(t)
	a := newAuthority(t)
	src := envcheck.TSATime{TSA: a, Roots: a.Roots(), SelfIssued: true}
	// Even a host clock 10 minutes off is not caught: the record says so
	// rather than claiming a pass.
	r := check(t, envcheck.Config{TimeSource: src, Now: hostOff(-10 * time.Minute)})
	c := result(t, r, envcheck.CheckClock)
	if c.Status != envcheck.StatusUnverified || !c.OK {
		t.Fatalf("clock check %+v: want unverified", c)
	}
	if !strings.Contains(c.Detail, "self-referential, cannot detect a wrong host clock") {
		t.Errorf("detail %q", c.Detail)
	}
	if !r.Clock.SelfReferential || r.Clock.Verified || !strings.Contains(r.Clock.Source, "self-referential") {
		t.Errorf("clock %+v: want self-referential, not verified", r.Clock)
	}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"self_referential": true`) {
		t.Errorf("report JSON lacks self_referential:\n%s", b)
	}
}

func TestNTPClock(t *testing.T) {
	clearProxy(t)
	srv := testparts.StartNTPServer(t, 0, false)
	src := envcheck.NTPTime{Server: srv.Addr, Timeout: 5 * time.Second}

	t.Run("in sync", func(t *testing.T) {
		r := check(t, envcheck.Config{TimeSource: src})
		c := result(t, r, envcheck.CheckClock)
		if c.Status != envcheck.StatusPass || !r.Clock.Verified {
			t.Fatalf("clock check %+v", c)
		}
		if !strings.HasPrefix(r.Clock.Source, "ntp "+srv.Addr) {
			t.Errorf("source %q", r.Clock.Source)
		}
		if off := r.Clock.Offset; off < -100*time.Millisecond || off > 100*time.Millisecond {
			t.Errorf("offset %v, want about 0", off)
		}
	})

	t.Run("host 10 minutes ahead", func(t *testing.T) {
		r := check(t, envcheck.Config{TimeSource: src, Now: hostOff(10 * time.Minute)})
		c := result(t, r, envcheck.CheckClock)
		if c.OK || !strings.Contains(c.Detail, "host clock ") || !strings.Contains(c.Detail, "source ") {
			t.Fatalf("clock check %+v: want a failure naming both times", c)
		}
		if r.Clock.Offset > -9*time.Minute || r.Clock.Offset < -11*time.Minute {
			t.Errorf("offset %v, want about -10m", r.Clock.Offset)
		}
	})

	t.Run("within a configured skew", func(t *testing.T) {
		r := check(t, envcheck.Config{TimeSource: src, Now: hostOff(3 * time.Second), MaxClockOffset: 5 * time.Second})
		if c := result(t, r, envcheck.CheckClock); !c.OK {
			t.Fatalf("clock check %+v: 3s within a 5s limit", c)
		}
	})

	t.Run("unsynchronised server", func(t *testing.T) {
		bad := testparts.StartNTPServer(t, 0, true)
		r := check(t, envcheck.Config{TimeSource: envcheck.NTPTime{Server: bad.Addr}})
		c := result(t, r, envcheck.CheckClock)
		if c.OK || !strings.Contains(c.Detail, "unusable reply") {
			t.Fatalf("clock check %+v: want a failure for an unsynchronised server", c)
		}
	})

	t.Run("no server", func(t *testing.T) {
		_, _, err := envcheck.NTPTime{}.Now(t.Context())
		if err == nil || !strings.Contains(err.Error(), "no server configured") {
			t.Fatal("no server: no error")
		}
	})
}
