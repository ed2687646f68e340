package envcheck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/emmansun/gmsm/sm3"
)

// Format is the value of the "format" field of every Report.
const Format = "shopwatch-environment/1"

// DefaultMaxClockOffset is the largest clock offset Check accepts when
// Config.MaxClockOffset is zero.
const DefaultMaxClockOffset = 2 * time.Second

// Names of the checks (see the package documentation). Binary checks are
// named CheckBinary + " " + the binary's name.
const (
	CheckHost     = "host"
	CheckClock    = "clock"
	CheckProxy    = "proxy"
	CheckHosts    = "hosts"
	CheckBinary   = "binary"
	CheckBinaries = "binaries"
)

// Status is the outcome of one check.
type Status string

// Outcomes of a check. Only StatusFail makes a report fail.
const (
	StatusPass       Status = "pass"
	StatusFail       Status = "fail"
	StatusUnverified Status = "unverified" // reported, nothing to compare against
)

// Config says what Check looks at. The zero Config checks the host, the
// clock against nothing (unverified), the proxy environment and the hosts
// file with no targets.
type Config struct {
	// Targets are the hosts the session will capture, as host names,
	// "host:port" or URLs. Only their host names are used.
	Targets []string
	// TimeSource is the clock to compare the local one with; nil means
	// SystemClock (the check is then unverified).
	TimeSource TimeSource
	// MaxClockOffset is the largest accepted offset; 0 means
	// DefaultMaxClockOffset.
	MaxClockOffset time.Duration
	// Now reads the host clock that is compared with TimeSource; nil
	// means time.Now.
	Now func() time.Time
	// AllowProxy accepts proxy environment variables (they are still
	// recorded).
	AllowProxy bool
	// Binaries maps a name ("shopwatch", "chromium") to the path of the
	// file to digest, e.g. os.Executable() for shopwatch itself.
	Binaries map[string]string
	// Version is shopwatch's version, recorded as shopwatch_version.
	Version string
	// Versions are other components' versions, recorded as given (e.g.
	// "chromium": the product string the browser reports).
	Versions map[string]string
	// HostsFile is the hosts file to read; "" means the system's
	// (DefaultHostsFile).
	HostsFile string
}

// Report is the record of one Check. It is meant to be stored as JSON with
// the capture (see the package documentation for its form).
type Report struct {
	Format    string            `json:"format"`
	CheckedAt time.Time         `json:"checked_at"` // UTC, when Check started
	Host      string            `json:"host"`
	OS        string            `json:"os"`   // runtime.GOOS
	Arch      string            `json:"arch"` // runtime.GOARCH
	GoVersion string            `json:"go_version"`
	Version   string            `json:"shopwatch_version"`
	Build     *Build            `json:"build,omitempty"`
	Versions  map[string]string `json:"versions,omitempty"`

	Clock Clock `json:"clock"`

	AllowProxy bool       `json:"allow_proxy"`
	ProxyEnv   []ProxyVar `json:"proxy_env"`

	HostsFile    string       `json:"hosts_file"`
	Targets      []string     `json:"targets"` // host names looked up, lower case, ASCII
	HostsEntries []HostsEntry `json:"hosts_entries"`

	Binaries []Binary `json:"binaries"`

	Checks   []Result `json:"checks"`
	Problems []string `json:"problems"` // "<check>: <detail>" per failed check
}

// Build is what the running binary says about how it was built.
type Build struct {
	Path        string `json:"path,omitempty"`    // main package path
	Module      string `json:"module,omitempty"`  // main module path
	Version     string `json:"version,omitempty"` // main module version, "(devel)" from a work tree
	VCSRevision string `json:"vcs_revision,omitempty"`
	VCSTime     string `json:"vcs_time,omitempty"`
	VCSModified bool   `json:"vcs_modified,omitempty"`
}

// Clock is the result of comparing the local clock with the time source.
type Clock struct {
	Source      string        `json:"source"`
	Verified    bool          `json:"verified"`     // false for SystemClock and a self-issued source
	LocalBefore time.Time     `json:"local_before"` // t0, UTC
	LocalAfter  time.Time     `json:"local_after"`  // t1, UTC
	SourceFrom  time.Time     `json:"source_earliest,omitzero"`
	SourceTo    time.Time     `json:"source_latest,omitzero"`
	Offset      time.Duration `json:"offset_ns"`      // source minus local; positive: local clock is behind
	Uncertainty time.Duration `json:"uncertainty_ns"` // the offset lies within Offset ± Uncertainty
	MaxOffset   time.Duration `json:"max_offset_ns"`
	Error       string        `json:"error,omitempty"`

	// SelfReferential is set when the source is the built-in authority,
	// which reads this host's clock: the check cannot detect a wrong
	// host clock.
	SelfReferential bool `json:"self_referential,omitempty"`
}

// ProxyVar is a proxy environment variable that was set.
type ProxyVar struct {
	Name  string `json:"name"`
	Value string `json:"value"` // with any password replaced by "xxxxx"
}

// Binary is the record of one configured binary.
type Binary struct {
	Name     string    `json:"name"`
	Path     string    `json:"path"`
	Resolved string    `json:"resolved,omitempty"` // Path with symbolic links resolved
	Size     int64     `json:"size"`
	Mode     string    `json:"mode,omitempty"`
	ModTime  time.Time `json:"mod_time,omitzero"`
	SHA256   string    `json:"sha256,omitempty"`
	SM3      string    `json:"sm3,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// Result is the outcome of one check.
type Result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"` // false only when Status is StatusFail
	Status Status `json:"status"`
	Detail string `json:"detail"`
}

// OK reports whether no check failed. Unverified checks do not count as
// failures.
func (r *Report) OK() bool {
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			return false
		}
	}
	return true
}

// Failed returns the checks that failed.
func (r *Report) Failed() []Result {
	var out []Result
	for _, c := range r.Checks {
		if c.Status == StatusFail {
			out = append(out, c)
		}
	}
	return out
}

// Err returns nil when the report is OK, and otherwise an error listing
// its problems, for a caller that stops capture on a failed check.
func (r *Report) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("capture environment check failed: %s", strings.Join(r.Problems, "; "))
}

// MarshalJSON writes the report with an "ok" field first.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	return json.Marshal(struct {
		OK bool `json:"ok"`
		plain
	}{r.OK(), plain(r)})
}

// JSON returns the report as stored: two-space indent and a final newline.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode environment report: %w", err)
	}
	return append(b, '\n'), nil
}

func (r *Report) add(name string, st Status, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	r.Checks = append(r.Checks, Result{Name: name, OK: st != StatusFail, Status: st, Detail: detail})
	if st == StatusFail {
		r.Problems = append(r.Problems, name+": "+detail)
	}
}

// Check records the capture environment and runs every check (see the
// package documentation). The context bounds the reading of the time
// source. Failed checks are in the report; the error is non-nil only when
// the checks could not run.
func Check(ctx context.Context, cfg Config) (*Report, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("check capture environment: %w", err)
	}
	if cfg.MaxClockOffset < 0 {
		return nil, fmt.Errorf("check capture environment: negative MaxClockOffset %v", cfg.MaxClockOffset)
	}
	maxOffset := cfg.MaxClockOffset
	if maxOffset == 0 {
		maxOffset = DefaultMaxClockOffset
	}
	hostsFile := cfg.HostsFile
	if hostsFile == "" {
		hostsFile = DefaultHostsFile()
	}
	r := &Report{
		Format:       Format,
		CheckedAt:    time.Now().UTC(),
		OS:           runtime.GOOS,
		Arch:         runtime.GOARCH,
		GoVersion:    runtime.Version(),
		Version:      cfg.Version,
		Build:        readBuild(),
		Versions:     cfg.Versions,
		AllowProxy:   cfg.AllowProxy,
		ProxyEnv:     []ProxyVar{},
		HostsFile:    hostsFile,
		Targets:      []string{},
		HostsEntries: []HostsEntry{},
		Binaries:     []Binary{},
		Checks:       []Result{},
		Problems:     []string{},
	}

	if h, err := os.Hostname(); err != nil {
		r.add(CheckHost, StatusFail, "read host name: %v", err)
	} else {
		r.Host = h
		r.add(CheckHost, StatusPass, "%s", h)
	}
	checkClock(ctx, r, cfg.TimeSource, maxOffset, cfg.Now)
	checkProxy(r, os.Environ(), cfg.AllowProxy)
	checkHosts(r, hostsFile, cfg.Targets)
	checkBinaries(r, cfg.Binaries)
	return r, nil
}

func readBuild() *Build {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	b := &Build{Path: bi.Path, Module: bi.Main.Path, Version: bi.Main.Version}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.VCSRevision = s.Value
		case "vcs.time":
			b.VCSTime = s.Value
		case "vcs.modified":
			b.VCSModified = s.Value == "true"
		}
	}
	return b
}

// proxyVars are the variable names (compared without regard to case) that
// send traffic through a proxy; noProxyVar only exempts hosts.
var (
	proxyVars  = []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "AUTO_PROXY", "SOCKS_SERVER"}
	noProxyVar = "NO_PROXY"
)

func checkProxy(r *Report, environ []string, allow bool) {
	var active []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		upper := strings.ToUpper(name)
		isProxy := slices.Contains(proxyVars, upper)
		if !isProxy && upper != noProxyVar {
			continue
		}
		v := value
		if isProxy {
			v = redactProxy(value)
		}
		r.ProxyEnv = append(r.ProxyEnv, ProxyVar{Name: name, Value: v})
		if isProxy && strings.TrimSpace(value) != "" {
			active = append(active, name+"="+v)
		}
	}
	sort.Slice(r.ProxyEnv, func(i, j int) bool { return r.ProxyEnv[i].Name < r.ProxyEnv[j].Name })
	sort.Strings(active)
	switch {
	case len(active) == 0:
		r.add(CheckProxy, StatusPass, "no proxy environment variable set")
	case allow:
		r.add(CheckProxy, StatusPass, "proxy allowed by configuration: %s", strings.Join(active, ", "))
	default:
		r.add(CheckProxy, StatusFail, "proxy environment variable set: %s", strings.Join(active, ", "))
	}
}

// redactProxy hides the password in a proxy URL. A value that does not
// parse as a URL but holds an "@" is cut down to what follows it, so that
// credentials never reach the report.
func redactProxy(v string) string {
	s := strings.TrimSpace(v)
	if s == "" {
		return v
	}
	parse := s
	if !strings.Contains(parse, "://") {
		parse = "http://" + parse
	}
	if u, err := url.Parse(parse); err == nil {
		if u.User == nil {
			return s
		}
		if _, has := u.User.Password(); !has {
			return s
		}
		red := u.Redacted()
		if !strings.Contains(s, "://") {
			red = strings.TrimPrefix(red, "http://")
		}
		return red
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		return "xxxxx@" + s[i+1:]
	}
	return s
}

func checkBinaries(r *Report, bins map[string]string) {
	if len(bins) == 0 {
		r.add(CheckBinaries, StatusUnverified, "no binaries configured")
		return
	}
	names := make([]string, 0, len(bins))
	for n := range bins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		b := digestBinary(name, bins[name])
		r.Binaries = append(r.Binaries, b)
		check := CheckBinary + " " + name
		if b.Error != "" {
			r.add(check, StatusFail, "%s", b.Error)
			continue
		}
		r.add(check, StatusPass, "%s: %d bytes, %s", b.Path, b.Size, b.SHA256)
	}
}

func digestBinary(name, path string) Binary {
	b := Binary{Name: name, Path: path}
	if path == "" {
		b.Error = "no path configured"
		return b
	}
	if res, err := filepath.EvalSymlinks(path); err == nil && res != path {
		b.Resolved = res
	}
	sha, sm, n, fi, err := digestFile(path)
	if err != nil {
		b.Error = err.Error()
		return b
	}
	b.Size = n
	b.Mode = fi.Mode().String()
	b.ModTime = fi.ModTime().UTC()
	b.SHA256 = "sha256:" + hex.EncodeToString(sha)
	b.SM3 = "sm3:" + hex.EncodeToString(sm)
	return b
}

var errNotRegular = errors.New("not a regular file")

// digestFile returns the SHA-256 and SM3 of the regular file at path, the
// number of bytes read and the file's information.
func digestFile(path string) (sha, sm []byte, n int64, fi os.FileInfo, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, 0, nil, fmt.Errorf("digest binary: %w", err)
	}
	defer f.Close()
	fi, err = f.Stat()
	if err != nil {
		return nil, nil, 0, nil, fmt.Errorf("digest binary: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, 0, nil, fmt.Errorf("digest binary %s: %w (%s)", path, errNotRegular, fi.Mode().Type())
	}
	hs, hm := sha256.New(), sm3.New()
	n, err = io.Copy(io.MultiWriter(hs, hm), f)
	if err != nil {
		return nil, nil, 0, nil, fmt.Errorf("digest binary %s: %w", path, err)
	}
	return hs.Sum(nil), hm.Sum(nil), n, fi, nil
}
