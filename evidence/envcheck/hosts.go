package envcheck

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/net/idna"
)

// HostsEntry is a line of the hosts file that names a target host or a
// subdomain of one.
type HostsEntry struct {
	Line    int      `json:"line"`    // 1-based line number
	Text    string   `json:"text"`    // the line without its end, spaces trimmed
	Address string   `json:"address"` // the address the line maps its names to
	Names   []string `json:"names"`   // the names on the line that concern a target
	Pinned  []string `json:"pinned"`  // the targets the line maps exactly; non-empty fails the check
}

// DefaultHostsFile returns the path of the system's hosts file:
// %SystemRoot%\System32\drivers\etc\hosts on Windows, /etc/hosts
// elsewhere.
func DefaultHostsFile() string {
	if runtime.GOOS == "windows" {
		root := os.Getenv("SystemRoot")
		if root == "" {
			root = `C:\Windows`
		}
		return filepath.Join(root, "System32", "drivers", "etc", "hosts")
	}
	return "/etc/hosts"
}

// normalizeHost lower-cases a host name, drops a trailing dot and writes
// internationalised names in their ASCII (punycode) form.
func normalizeHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if a, err := idna.Lookup.ToASCII(h); err == nil && a != "" {
		h = a
	}
	return h
}

// targetHost returns the host name of a target given as a host name,
// "host:port" or URL.
func targetHost(target string) (string, error) {
	s := strings.TrimSpace(target)
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return "", fmt.Errorf("target %q: %w", target, err)
		}
		s = u.Hostname()
	} else if h, _, err := net.SplitHostPort(s); err == nil {
		s = h
	} else if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	s = normalizeHost(strings.Trim(s, "[]"))
	if s == "" {
		return "", fmt.Errorf("target %q: no host name", target)
	}
	return s, nil
}

func checkHosts(r *Report, path string, targets []string) {
	var names, bad []string
	for _, t := range targets {
		h, err := targetHost(t)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if _, err := netip.ParseAddr(h); err == nil {
			continue // an address literal is not looked up
		}
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	r.Targets = append(r.Targets, names...)

	entries, err := scanHosts(path, names)
	r.HostsEntries = append(r.HostsEntries, entries...)
	var pinned []string
	for _, e := range entries {
		if len(e.Pinned) > 0 {
			pinned = append(pinned, fmt.Sprintf("%s line %d %q pins %s", path, e.Line, e.Text, strings.Join(e.Pinned, ", ")))
		}
	}
	switch {
	case err != nil:
		r.add(CheckHosts, StatusFail, "%v", err)
	case len(bad) > 0 || len(pinned) > 0:
		r.add(CheckHosts, StatusFail, "%s", strings.Join(append(bad, pinned...), "; "))
	case len(names) == 0:
		r.add(CheckHosts, StatusPass, "no target host names to look up")
	case len(entries) > 0:
		r.add(CheckHosts, StatusPass, "%s pins no target host; %d line(s) name a subdomain of one", path, len(entries))
	default:
		r.add(CheckHosts, StatusPass, "%s does not name %s", path, strings.Join(names, ", "))
	}
}

// scanHosts returns the lines of the hosts file at path that name one of
// the targets or a subdomain of one. A missing file names nothing.
func scanHosts(path string, targets []string) ([]HostsEntry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read hosts file: %w", err)
	}
	defer f.Close()
	var out []HostsEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		content, _, _ := strings.Cut(line, "#")
		fields := strings.Fields(content)
		if len(fields) < 2 || len(targets) == 0 {
			continue
		}
		e := HostsEntry{Line: n, Text: strings.TrimSpace(line), Address: fields[0]}
		for _, name := range fields[1:] {
			h := normalizeHost(name)
			switch {
			case slices.Contains(targets, h):
				e.Names = append(e.Names, name)
				e.Pinned = append(e.Pinned, h)
			case slices.ContainsFunc(targets, func(t string) bool { return strings.HasSuffix(h, "."+t) }):
				e.Names = append(e.Names, name)
			}
		}
		if len(e.Names) > 0 {
			if e.Pinned == nil {
				e.Pinned = []string{}
			}
			out = append(out, e)
		}
	}
	if err := sc.Err(); err != nil {
		return out, fmt.Errorf("read hosts file %s: %w", path, err)
	}
	return out, nil
}
