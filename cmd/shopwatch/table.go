package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // the timezone setting works on machines without a zoneinfo database
	"unicode"

	"golang.org/x/text/width"
)

// defaultTimezone is the zone of human-facing times when the configuration
// names none: inspectors copy these times into their records.
const defaultTimezone = "Asia/Shanghai"

// location returns the configured time zone of human-facing times.
func (a *app) location() *time.Location {
	if a.loc != nil {
		return a.loc
	}
	name := defaultTimezone
	if c, err := a.config(); err == nil && c.Timezone != "" {
		name = c.Timezone
	}
	loc, err := time.LoadLocation(name)
	if err != nil { // Validate refuses a bad zone at start-up
		loc = time.UTC
	}
	a.loc = loc
	return loc
}

// localTime formats t for people: in the configured zone, to the second;
// "-" for the zero time.
func (a *app) localTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(a.location()).Format("2006-01-02 15:04:05")
}

// timeHeader is the header of a time column: its name and the zone the
// times are in, so a copied time is never ambiguous.
func (a *app) timeHeader(name string) string {
	return fmt.Sprintf("%s (%s)", name, a.location())
}

// parseSince reads a --since or --until value: a duration back from now
// ("7d", "24h", "90m"), a date ("2026-06-18", midnight in the configured
// zone), a local date and time ("2026-06-18 09:30" or "2026-06-18T09:30:00")
// or an RFC 3339 time with offset.
func (a *app) parseSince(flagName, s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if n, unit, ok := cutNumber(s); ok {
		var d time.Duration
		switch unit {
		case "d":
			d = time.Duration(n) * 24 * time.Hour
		case "w":
			d = time.Duration(n) * 7 * 24 * time.Hour
		case "h":
			d = time.Duration(n) * time.Hour
		case "m":
			d = time.Duration(n) * time.Minute
		default:
			return time.Time{}, usagef("--%s %q: unknown unit %q (want d, h or m, e.g. 7d or 24h)", flagName, s, unit)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, a.location()); err == nil {
			return t, nil
		}
	}
	return time.Time{}, usagef("--%s %q: want a duration back from now (7d, 24h), a date (2006-01-02) or a time (2006-01-02 15:04, RFC 3339)", flagName, s)
}

// cutNumber splits "7d" into 7 and "d".
func cutNumber(s string) (int, string, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 || i == len(s) || i > 6 {
		return 0, "", false
	}
	if strings.ContainsAny(s[i:], "-:T ") {
		return 0, "", false
	}
	n, err := strconv.Atoi(s[:i])
	return n, s[i:], err == nil
}

// displayWidth is how many terminal columns s takes: East Asian wide and
// fullwidth characters two, combining marks and control characters none.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
		case unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Me, r) || r == 0x200b || r == 0x200d:
		default:
			switch width.LookupRune(r).Kind() {
			case width.EastAsianWide, width.EastAsianFullwidth:
				n += 2
			default:
				n++
			}
		}
	}
	return n
}

// tableWriter aligns the tab-separated cells of the lines written to it
// by display width, so Chinese text lines up in a terminal; lines without
// a tab pass through unchanged. Nothing is written before Flush.
type tableWriter struct {
	w   io.Writer
	buf bytes.Buffer
}

func newTable(w io.Writer) *tableWriter { return &tableWriter{w: w} }

func (t *tableWriter) Write(p []byte) (int, error) { return t.buf.Write(p) }

// Flush writes the aligned table.
func (t *tableWriter) Flush() error {
	text := t.buf.String()
	t.buf.Reset()
	if text == "" {
		return nil
	}
	trailing := strings.HasSuffix(text, "\n")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var widths []int
	cells := make([][]string, len(lines))
	for i, l := range lines {
		if !strings.Contains(l, "\t") {
			continue
		}
		cells[i] = strings.Split(l, "\t")
		for j, c := range cells[i][:len(cells[i])-1] {
			if j >= len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], displayWidth(c))
		}
	}
	var out strings.Builder
	for i, l := range lines {
		if cells[i] == nil {
			out.WriteString(l)
		} else {
			var row strings.Builder
			for j, c := range cells[i] {
				row.WriteString(c)
				if j < len(cells[i])-1 {
					row.WriteString(strings.Repeat(" ", widths[j]-displayWidth(c)+2))
				}
			}
			out.WriteString(strings.TrimRightFunc(row.String(), unicode.IsSpace))
		}
		if i < len(lines)-1 || trailing {
			out.WriteString("\n")
		}
	}
	_, err := io.WriteString(t.w, out.String())
	return err
}

// cell makes s safe for one table cell: tabs and line breaks become
// spaces; an empty value is "-".
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if !strings.ContainsAny(s, "\t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// truncate cuts s to at most n display columns, marking the cut with "…".
func truncate(s string, n int) string {
	if displayWidth(s) <= n {
		return s
	}
	w := 0
	for i, r := range s {
		rw := displayWidth(string(r))
		if w+rw > n-1 {
			return s[:i] + "…"
		}
		w += rw
	}
	return s
}
