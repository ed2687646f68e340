// Package schedule decides when a target is due for a visit.
//
// A target's Schedule is a standard five-field cron expression (minute,
// hour, day of month, month, day of week), read by github.com/robfig/cron/v3;
// its descriptors (@hourly, @daily, @every 90m …) and a leading
// CRON_TZ=Zone are accepted too. Expressions are read in the calendar's
// time zone (Asia/Shanghai unless the calendar says otherwise). An empty
// Schedule means the target is due on every sweep.
//
// A festival Calendar (see Load and configs/festivals.yaml) holds named
// windows that recur every year between two month-days, such as 618 or
// 双十一. While a window is active, the targets it applies to are also due on
// the window's denser schedule and get its priority boost.
//
// Missed runs are caught up once, not replayed: Due compares the first
// scheduled time after the last run with now, so after three days of
// downtime an hourly target is due once, and then again at the next hour.
//
// Everything here is a pure function of its inputs (no clock, no I/O after
// Load) and safe for concurrent use.
package schedule

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	// The calendar's zone must load on hosts without a zoneinfo database.
	_ "time/tzdata"

	"shopwatch"
)

// DefaultTimezone is the zone schedules are read in when a calendar names
// none, or when there is no calendar.
const DefaultTimezone = "Asia/Shanghai"

// defaultLocation is DefaultTimezone, loaded once.
var defaultLocation = sync.OnceValue(func() *time.Location {
	loc, err := time.LoadLocation(DefaultTimezone)
	if err != nil {
		// time/tzdata is linked in, so this does not happen; China
		// has kept UTC+8 without daylight saving since 1991.
		return time.FixedZone("CST", 8*60*60)
	}
	return loc
})

// ErrNeverDue: a cron expression parses but names no time that exists
// (for example "0 0 30 2 *", 30 February).
var ErrNeverDue = errors.New("schedule never fires")

// parseCron parses a cron expression. The parser can panic on some
// malformed input; that becomes an error too.
func parseCron(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("cron expression %q: %v", spec, r)
		}
	}()
	s, err = cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("cron expression %q: %w", spec, err)
	}
	// The parser looks five years ahead at most; a schedule without a
	// time in the next eight years fires never.
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if s.Next(from).IsZero() && s.Next(from.AddDate(4, 0, 0)).IsZero() {
		return nil, fmt.Errorf("cron expression %q: %w", spec, ErrNeverDue)
	}
	return s, nil
}

// cache keeps parsed target schedules: Due runs for every target on every
// tick of the scheduler, with few distinct expressions among them.
var cache struct {
	sync.Mutex
	m map[string]cron.Schedule
}

const maxCached = 4096

func cachedCron(spec string) (cron.Schedule, error) {
	cache.Lock()
	s, ok := cache.m[spec]
	cache.Unlock()
	if ok {
		return s, nil
	}
	s, err := parseCron(spec)
	if err != nil {
		return nil, err
	}
	cache.Lock()
	if cache.m == nil || len(cache.m) >= maxCached {
		cache.m = make(map[string]cron.Schedule)
	}
	cache.m[spec] = s
	cache.Unlock()
	return s, nil
}

// maxSkew is how far in the future a last run may lie and still count as
// now.
const maxSkew = time.Minute

// targetName is how errors name a target: its id and URL.
func targetName(t shopwatch.Target) string {
	switch {
	case t.ID != "" && t.URL != "":
		return fmt.Sprintf("target %s (%s)", t.ID, t.URL)
	case t.ID != "":
		return "target " + t.ID
	}
	return "target " + t.URL
}

// Validate checks a target's schedule: empty, or a cron expression that
// parses and fires. The error names the target and the expression.
func Validate(t shopwatch.Target) error {
	if t.Schedule == "" {
		return nil
	}
	if _, err := cachedCron(t.Schedule); err != nil {
		return fmt.Errorf("%s: schedule: %w", targetName(t), err)
	}
	return nil
}

// Due reports whether target should be visited now, given when it was last
// run (zero: never), and the priority to queue it with. cal may be nil (no
// festivals).
//
// The target is due when a time of its own schedule, or of the schedule of
// a festival window that is active now and applies to it, has come since
// lastRun. However many such times passed (downtime), Due says true once;
// once the caller records the run at now, the target waits for the next
// scheduled time. A target without a schedule, or never run, is due on every
// call. A lastRun up to a minute in the future (clocks of two machines)
// counts as now; one further ahead (the clock was set back) makes the target
// due once, so that it is not starved until that time.
//
// The priority is the target's own plus the largest boost among the active
// windows that apply to it, whether or not the target is due.
//
// The error, for a schedule that does not parse, names the target; the
// target is then not due.
func Due(target shopwatch.Target, lastRun, now time.Time, cal *Calendar) (due bool, priority int, err error) {
	loc := cal.location()
	active := cal.Active(now)
	priority = target.Priority
	boosted := false
	best := 0
	var windows []Window
	for _, w := range active {
		if !w.AppliesTo(target) {
			continue
		}
		windows = append(windows, w)
		if !boosted || w.Boost > best {
			best, boosted = w.Boost, true
		}
	}
	priority += best

	var own cron.Schedule
	if target.Schedule != "" {
		if own, err = cachedCron(target.Schedule); err != nil {
			return false, priority, fmt.Errorf("%s: schedule: %w", targetName(target), err)
		}
	}
	if target.Schedule == "" || lastRun.IsZero() {
		return true, priority, nil
	}
	switch {
	case lastRun.Sub(now) > maxSkew:
		return true, priority, nil // the clock went back: catch up once
	case lastRun.After(now):
		lastRun = now
	}
	if next := own.Next(lastRun.In(loc)); !next.IsZero() && !next.After(now) {
		return true, priority, nil
	}
	for _, w := range windows {
		// Times of the window's schedule count from the start of its
		// current occurrence: the window cannot make up for times before
		// it opened.
		from := lastRun
		if start := w.occurrenceStart(now, loc); from.Before(start) {
			from = start.Add(-time.Nanosecond)
		}
		wc := w.cron
		if wc == nil { // a Window built by hand, not by Load
			if wc, err = cachedCron(w.Schedule); err != nil {
				return false, priority, fmt.Errorf("festival window %s: schedule: %w", w.Name(), err)
			}
		}
		if next := wc.Next(from.In(loc)); !next.IsZero() && !next.After(now) {
			return true, priority, nil
		}
	}
	return false, priority, nil
}
