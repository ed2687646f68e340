package schedule

import (
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"shopwatch"
)

// MonthDay is a day of the year without a year: 6 1 is 1 June. 29 February
// is a valid MonthDay; in other years no date falls on it.
type MonthDay struct {
	Month time.Month
	Day   int
}

// String formats d as MM-DD.
func (d MonthDay) String() string { return fmt.Sprintf("%02d-%02d", int(d.Month), d.Day) }

func (d MonthDay) before(e MonthDay) bool {
	return d.Month < e.Month || (d.Month == e.Month && d.Day < e.Day)
}

// ParseMonthDay reads "MM-DD" (or "M-D").
func ParseMonthDay(s string) (MonthDay, error) {
	m, d, ok := strings.Cut(strings.TrimSpace(s), "-")
	mi, err1 := strconv.Atoi(m)
	di, err2 := strconv.Atoi(d)
	if !ok || err1 != nil || err2 != nil {
		return MonthDay{}, fmt.Errorf("month-day %q: want MM-DD", s)
	}
	if mi < 1 || mi > 12 {
		return MonthDay{}, fmt.Errorf("month-day %q: month %d out of range 1-12", s, mi)
	}
	// Days per month in a leap year: 29 February is allowed.
	days := time.Date(2024, time.Month(mi)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	if di < 1 || di > days {
		return MonthDay{}, fmt.Errorf("month-day %q: day %d out of range 1-%d", s, di, days)
	}
	return MonthDay{time.Month(mi), di}, nil
}

// Window is one phase of a festival: from From to To inclusive, every
// year, in the calendar's time zone. When From comes after To the window
// spans the new year (12-26 to 01-25).
type Window struct {
	Festival string   // "618", "双十一" …
	Phase    string   // "presale", "main", "aftermath" …; may be empty
	From, To MonthDay // whole days, inclusive
	Schedule string   // cron expression of the visits during the window
	Boost    int      // added to the priority of the targets it applies to
	// Categories and Platforms narrow the targets the window applies to;
	// empty means every target.
	Categories []string
	Platforms  []string

	cron cron.Schedule
}

// Name is "Festival/Phase", or the festival alone.
func (w Window) Name() string {
	if w.Phase == "" {
		return w.Festival
	}
	return w.Festival + "/" + w.Phase
}

// contains reports whether the month-day d falls in the window.
func (w Window) contains(d MonthDay) bool {
	if w.To.before(w.From) { // spans the new year
		return !d.before(w.From) || !w.To.before(d)
	}
	return !d.before(w.From) && !w.To.before(d)
}

// occurrenceStart is the first instant of the occurrence of w that holds
// t: midnight of From, in the previous year when the window spans the new
// year and t is in January's part.
func (w Window) occurrenceStart(t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	year := lt.Year()
	if w.To.before(w.From) && MonthDayOf(lt).before(w.From) {
		year--
	}
	return time.Date(year, w.From.Month, w.From.Day, 0, 0, 0, 0, loc)
}

// AppliesTo reports whether the window concerns the target, by its
// category and platform (case-insensitive).
func (w Window) AppliesTo(t shopwatch.Target) bool {
	match := func(list []string, v string) bool {
		return len(list) == 0 || slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, v) })
	}
	return match(w.Categories, t.Category) && match(w.Platforms, t.Platform)
}

// MonthDayOf is the month and day of t in t's location.
func MonthDayOf(t time.Time) MonthDay { return MonthDay{t.Month(), t.Day()} }

// Calendar is a set of festival windows in one time zone. A nil *Calendar
// has no windows and reads schedules in DefaultTimezone.
type Calendar struct {
	Location *time.Location
	Windows  []Window
}

func (c *Calendar) location() *time.Location {
	if c == nil || c.Location == nil {
		return defaultLocation()
	}
	return c.Location
}

// Active returns the windows active at t, judged by the date of t in the
// calendar's zone, in calendar order.
func (c *Calendar) Active(t time.Time) []Window {
	if c == nil {
		return nil
	}
	d := MonthDayOf(t.In(c.location()))
	var out []Window
	for _, w := range c.Windows {
		if w.contains(d) {
			out = append(out, w)
		}
	}
	return out
}

// Load reads a festival calendar from path in fsys (configs/festivals.yaml
// has the format). Every error names path and the line it concerns:
//
//	festivals.yaml:12: festival "618" window "presale": to: month-day "13-01": month 13 out of range 1-12
//
// Unknown keys are errors, so a misspelt key is not silently ignored.
func Load(fsys fs.FS, path string) (*Calendar, error) {
	data, err := fs.ReadFile(fsys, path)
	if err != nil {
		return nil, fmt.Errorf("load festival calendar: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a festival calendar from data; name is used in errors.
func Parse(name string, data []byte) (*Calendar, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	p := &calParser{file: name}
	cal, err := p.calendar(&doc)
	if err != nil {
		return nil, err
	}
	return cal, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError rewrites a YAML syntax error as file:line: message.
func yamlError(name string, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("%s:%s: %s", name, m[1], m[2])
	}
	return fmt.Errorf("%s: %w", name, err)
}

type calParser struct{ file string }

func (p *calParser) errf(n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", p.file, n.Line, fmt.Sprintf(format, args...))
}

// fields returns the values of a mapping by key, refusing unknown and
// repeated keys. keys maps each key to its node.
func (p *calParser) fields(n *yaml.Node, what string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "%s: want a mapping", what)
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			return nil, p.errf(k, "%s: unknown key %q (want one of %s)", what, k.Value, strings.Join(allowed, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, p.errf(k, "%s: key %q repeated", what, k.Value)
		}
		out[k.Value] = v
	}
	return out, nil
}

func (p *calParser) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.errf(n, "%s: want a single value", what)
	}
	return n.Value, nil
}

func (p *calParser) strings(n *yaml.Node, what string) ([]string, error) {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "%s: want a list", what)
	}
	var out []string
	for _, e := range n.Content {
		s, err := p.scalar(e, what)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *calParser) calendar(doc *yaml.Node) (*Calendar, error) {
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s:1: empty festival calendar", p.file)
	}
	root := doc.Content[0]
	f, err := p.fields(root, "calendar", "timezone", "festivals")
	if err != nil {
		return nil, err
	}
	cal := &Calendar{Location: defaultLocation()}
	if n := f["timezone"]; n != nil {
		tz, err := p.scalar(n, "timezone")
		if err != nil {
			return nil, err
		}
		if cal.Location, err = time.LoadLocation(tz); err != nil || tz == "" || tz == "Local" {
			return nil, p.errf(n, "timezone %q: unknown zone", tz)
		}
	}
	n := f["festivals"]
	if n == nil {
		return nil, p.errf(root, "calendar: no festivals key")
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "festivals: want a list")
	}
	seen := map[string]int{}
	for _, fn := range n.Content {
		ws, name, err := p.festival(fn)
		if err != nil {
			return nil, err
		}
		if line, dup := seen[name]; dup {
			return nil, p.errf(fn, "festival %q: already defined at line %d", name, line)
		}
		seen[name] = fn.Line
		cal.Windows = append(cal.Windows, ws...)
	}
	return cal, nil
}

func (p *calParser) festival(n *yaml.Node) ([]Window, string, error) {
	f, err := p.fields(n, "festival", "name", "windows")
	if err != nil {
		return nil, "", err
	}
	nn := f["name"]
	if nn == nil {
		return nil, "", p.errf(n, "festival: no name")
	}
	name, err := p.scalar(nn, "festival name")
	if err != nil {
		return nil, "", err
	}
	if name = strings.TrimSpace(name); name == "" {
		return nil, "", p.errf(nn, "festival: empty name")
	}
	wn := f["windows"]
	if wn == nil || wn.Kind != yaml.SequenceNode || len(wn.Content) == 0 {
		at := n
		if wn != nil {
			at = wn
		}
		return nil, "", p.errf(at, "festival %q: want a list of one or more windows", name)
	}
	var out []Window
	phases := map[string]int{}
	for _, e := range wn.Content {
		w, err := p.window(e, name)
		if err != nil {
			return nil, "", err
		}
		if line, dup := phases[w.Phase]; dup {
			return nil, "", p.errf(e, "festival %q: phase %q already defined at line %d", name, w.Phase, line)
		}
		phases[w.Phase] = e.Line
		out = append(out, w)
	}
	return out, name, nil
}

func (p *calParser) window(n *yaml.Node, festival string) (Window, error) {
	w := Window{Festival: festival}
	what := fmt.Sprintf("festival %q window", festival)
	// The phase names the window in every other error, so read it first.
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "phase" {
			phase, err := p.scalar(v, what+": phase")
			if err != nil {
				return w, err
			}
			w.Phase = strings.TrimSpace(phase)
			what = fmt.Sprintf("festival %q window %q", festival, w.Phase)
			break
		}
	}
	f, err := p.fields(n, what, "phase", "from", "to", "schedule", "boost", "categories", "platforms")
	if err != nil {
		return w, err
	}
	for _, key := range []string{"from", "to", "schedule"} {
		if f[key] == nil {
			return w, p.errf(n, "%s: no %s", what, key)
		}
	}
	day := func(key string) (MonthDay, error) {
		s, err := p.scalar(f[key], what+": "+key)
		if err != nil {
			return MonthDay{}, err
		}
		d, err := ParseMonthDay(s)
		if err != nil {
			return MonthDay{}, p.errf(f[key], "%s: %s: %v", what, key, err)
		}
		return d, nil
	}
	if w.From, err = day("from"); err != nil {
		return w, err
	}
	if w.To, err = day("to"); err != nil {
		return w, err
	}
	if w.Schedule, err = p.scalar(f["schedule"], what+": schedule"); err != nil {
		return w, err
	}
	if w.cron, err = parseCron(w.Schedule); err != nil {
		return w, p.errf(f["schedule"], "%s: schedule: %v", what, err)
	}
	if v := f["boost"]; v != nil {
		s, err := p.scalar(v, what+": boost")
		if err != nil {
			return w, err
		}
		if w.Boost, err = strconv.Atoi(s); err != nil {
			return w, p.errf(v, "%s: boost %q: want a whole number", what, s)
		}
	}
	if v := f["categories"]; v != nil {
		if w.Categories, err = p.strings(v, what+": categories"); err != nil {
			return w, err
		}
	}
	if v := f["platforms"]; v != nil {
		if w.Platforms, err = p.strings(v, what+": platforms"); err != nil {
			return w, err
		}
	}
	return w, nil
}
