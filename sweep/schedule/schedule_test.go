package schedule

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"shopwatch"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// cst is a wall-clock time in Asia/Shanghai.
func cst(year int, month time.Month, day, hour, min int) time.Time {
	return time.Date(year, month, day, hour, min, 0, 0, shanghai)
}

// shipped loads configs/festivals.yaml from the repository.
func shipped(t testing.TB) *Calendar {
	t.Helper()
	cal, err := Load(os.DirFS("../../configs"), "festivals.yaml")
	if err != nil {
		t.Fatalf("load the shipped calendar: %v", err)
	}
	return cal
}

func names(ws []Window) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.Name())
	}
	return out
}

func TestValidateNamesTarget(t *testing.T) {
	for _, spec := range []string{"61 * * * *", "* * *", "every hour", "0 0 30 2 *", "CRON_TZ=Mars/Olympus 0 * * * *", "0 9 * * 8", "@fortnightly"} {
		tg := shopwatch.Target{ID: "t-42", URL: "https://shop.example/1", Schedule: spec}
		err := Validate(tg)
		if err == nil {
			t.Errorf("Validate(%q) accepted it", spec)
			continue
		}
		for _, want := range []string{"t-42", "https://shop.example/1", spec} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Validate(%q) = %q, does not name %q", spec, err, want)
			}
		}
		due, _, derr := Due(tg, time.Time{}, cst(2025, 3, 1, 9, 0), nil)
		if due || derr == nil || !strings.Contains(derr.Error(), "t-42") {
			t.Errorf("Due with schedule %q = %v, %v; want not due and an error naming the target", spec, due, derr)
		}
	}
	if err := Validate(shopwatch.Target{URL: "https://x.example/", Schedule: "0 0 30 2 *"}); !errors.Is(err, ErrNeverDue) {
		t.Errorf("30 February: %v, want ErrNeverDue", err)
	}
	for _, spec := range []string{"", "0 9 * * 1-5", "*/15 8-22 * * *", "@hourly", "@every 90m", "CRON_TZ=UTC 0 0 * * *", "0 0 29 2 *"} {
		if err := Validate(shopwatch.Target{ID: "ok", Schedule: spec}); err != nil {
			t.Errorf("Validate(%q): %v", spec, err)
		}
	}
}

func TestEmptyScheduleDueOnEverySweep(t *testing.T) {
	tg := shopwatch.Target{ID: "a", Priority: 3}
	now := cst(2025, 3, 1, 9, 0)
	for _, last := range []time.Time{{}, now.Add(-time.Second), now} {
		due, prio, err := Due(tg, last, now, nil)
		if !due || prio != 3 || err != nil {
			t.Errorf("last %v: due %v prio %d err %v", last, due, prio, err)
		}
	}
}

func TestNeverRunIsDue(t *testing.T) {
	due, _, err := Due(shopwatch.Target{Schedule: "0 9 1 1 *"}, time.Time{}, cst(2025, 7, 1, 0, 0), nil)
	if !due || err != nil {
		t.Errorf("a target never run: due %v, err %v", due, err)
	}
}

// runScheduler ticks a scheduler every minute from start to end and
// returns when the target ran, recording each run as its last run.
func runScheduler(t *testing.T, tg shopwatch.Target, last, start, end time.Time, cal *Calendar) []time.Time {
	t.Helper()
	var runs []time.Time
	for now := start; !now.After(end); now = now.Add(time.Minute) {
		due, _, err := Due(tg, last, now, cal)
		if err != nil {
			t.Fatal(err)
		}
		if due {
			runs = append(runs, now)
			last = now
		}
	}
	return runs
}

func TestCatchUpOnceAfterDowntime(t *testing.T) {
	hourly := shopwatch.Target{ID: "h", Schedule: "0 * * * *"}
	last := cst(2025, 3, 1, 10, 0)
	back := cst(2025, 3, 4, 10, 25) // three days and 25 minutes down: 72 hourly runs missed
	due, _, err := Due(hourly, last, back, nil)
	if !due || err != nil {
		t.Fatalf("after downtime: due %v, err %v", due, err)
	}
	runs := runScheduler(t, hourly, last, back, cst(2025, 3, 4, 13, 0), nil)
	want := []time.Time{back, cst(2025, 3, 4, 11, 0), cst(2025, 3, 4, 12, 0), cst(2025, 3, 4, 13, 0)}
	if !slices.EqualFunc(runs, want, time.Time.Equal) {
		t.Errorf("runs %v, want one catch-up then the hourly times %v", runs, want)
	}

	daily := shopwatch.Target{ID: "d", Schedule: "0 9 * * *"}
	runs = runScheduler(t, daily, cst(2025, 3, 1, 9, 0), cst(2025, 3, 4, 20, 0), cst(2025, 3, 5, 10, 0), nil)
	want = []time.Time{cst(2025, 3, 4, 20, 0), cst(2025, 3, 5, 9, 0)}
	if !slices.EqualFunc(runs, want, time.Time.Equal) {
		t.Errorf("daily runs %v, want %v", runs, want)
	}

	// A last run recorded days ahead (the clock was set back) is caught
	// up once too, instead of starving the target until that day.
	runs = runScheduler(t, hourly, cst(2025, 3, 9, 0, 0), cst(2025, 3, 4, 10, 5), cst(2025, 3, 4, 11, 0), nil)
	want = []time.Time{cst(2025, 3, 4, 10, 5), cst(2025, 3, 4, 11, 0)}
	if !slices.EqualFunc(runs, want, time.Time.Equal) {
		t.Errorf("runs with a future last run: %v, want %v", runs, want)
	}
	// A last run a few seconds ahead (clocks of two machines) is not.
	if due, _, _ := Due(hourly, back.Add(20*time.Second), back, nil); due {
		t.Errorf("due again right after a run stamped by a clock 20s ahead")
	}
}

func TestSchedulesReadInShanghai(t *testing.T) {
	tg := shopwatch.Target{ID: "m", Schedule: "0 9 * * *"}
	last := time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC) // 17:30 in Shanghai
	now := time.Date(2025, 3, 2, 1, 5, 0, 0, time.UTC)   // 09:05 in Shanghai
	if due, _, _ := Due(tg, last, now, nil); !due {
		t.Errorf("09:00 Shanghai passed at %v but the target is not due", now)
	}
	if due, _, _ := Due(tg, last, now.Add(-10*time.Minute), nil); due {
		t.Errorf("due at 08:55 Shanghai")
	}
	utc := shopwatch.Target{ID: "u", Schedule: "CRON_TZ=UTC 0 9 * * *"}
	if due, _, _ := Due(utc, last, now, nil); due {
		t.Errorf("a UTC schedule fired at 01:05 UTC")
	}
}

func TestActiveWindows(t *testing.T) {
	cal := shipped(t)
	for _, c := range []struct {
		at   time.Time
		want []string
	}{
		{cst(2025, 5, 19, 23, 59), nil},
		{cst(2025, 5, 20, 0, 0), []string{"618/presale"}},
		{time.Date(2025, 5, 19, 16, 0, 0, 0, time.UTC), []string{"618/presale"}}, // 05-20 00:00 in Shanghai
		{time.Date(2025, 5, 19, 15, 59, 0, 0, time.UTC), nil},
		{cst(2025, 5, 31, 23, 59), []string{"618/presale"}},
		{time.Date(2025, 5, 31, 16, 30, 0, 0, time.UTC), []string{"618/main"}},
		{cst(2025, 6, 18, 23, 59), []string{"618/main"}},
		{cst(2025, 6, 19, 0, 0), nil},
		{cst(2025, 10, 19, 23, 59), nil},
		{cst(2025, 10, 20, 0, 0), []string{"双十一/main"}},
		{cst(2025, 11, 11, 12, 0), []string{"双十一/main", "双十一/peak"}},
		{cst(2025, 11, 12, 8, 0), []string{"双十一/aftermath"}},
		{cst(2025, 11, 13, 0, 0), nil},
		{cst(2025, 12, 12, 23, 0), []string{"双十二/main"}},
		{cst(2025, 12, 13, 0, 0), nil},
		{cst(2025, 12, 25, 23, 59), nil},
		{cst(2025, 12, 26, 0, 0), []string{"年货节/main"}},
		{cst(2025, 12, 31, 23, 59), []string{"年货节/main"}},
		{cst(2026, 1, 1, 0, 0), []string{"年货节/main"}},
		{time.Date(2025, 12, 31, 16, 30, 0, 0, time.UTC), []string{"年货节/main"}},
		{time.Date(2026, 1, 25, 15, 59, 0, 0, time.UTC), []string{"年货节/main"}}, // 01-25 23:59
		{time.Date(2026, 1, 25, 16, 0, 0, 0, time.UTC), nil},                   // 01-26 00:00
		{cst(2028, 2, 29, 12, 0), nil},
		{cst(2031, 6, 10, 12, 0), []string{"618/main"}}, // every year
	} {
		if got := names(cal.Active(c.at)); !slices.Equal(got, c.want) {
			t.Errorf("Active(%s) = %q, want %q", c.at.In(shanghai).Format("2006-01-02 15:04 MST"), got, c.want)
		}
	}
	var none *Calendar
	if ws := none.Active(cst(2025, 11, 11, 0, 0)); ws != nil {
		t.Errorf("nil calendar has windows %v", ws)
	}
}

func TestFestivalBoostAndDenserSchedule(t *testing.T) {
	cal := shipped(t)
	tg := shopwatch.Target{ID: "shop-1", Schedule: "0 9 * * *", Priority: 1, Category: "food"}

	// An ordinary day: daily at 09:00 only, no boost.
	due, prio, err := Due(tg, cst(2025, 9, 1, 10, 0), cst(2025, 9, 1, 12, 0), cal)
	if due || prio != 1 || err != nil {
		t.Errorf("1 September: due %v prio %d err %v; want not due, priority 1", due, prio, err)
	}
	// 双十一 run-up: every two hours, +5.
	due, prio, _ = Due(tg, cst(2025, 11, 5, 10, 0), cst(2025, 11, 5, 12, 0), cal)
	if !due || prio != 6 {
		t.Errorf("5 November 12:00: due %v prio %d; want due, priority 6", due, prio)
	}
	due, _, _ = Due(tg, cst(2025, 11, 5, 12, 0), cst(2025, 11, 5, 13, 59), cal)
	if due {
		t.Errorf("5 November 13:59: due again before the next two-hour mark")
	}
	// 11 November: the peak's half-hourly schedule and the larger boost.
	due, prio, _ = Due(tg, cst(2025, 11, 11, 10, 0), cst(2025, 11, 11, 10, 30), cal)
	if !due || prio != 9 {
		t.Errorf("11 November 10:30: due %v prio %d; want due, priority 9", due, prio)
	}
	runs := runScheduler(t, tg, cst(2025, 11, 11, 9, 0), cst(2025, 11, 11, 9, 1), cst(2025, 11, 11, 12, 0), cal)
	if len(runs) != 6 {
		t.Errorf("11 November 09:01-12:00: %d runs %v, want 6 (every half hour)", len(runs), runs)
	}
	// The boost applies to targets without a schedule too.
	if _, prio, _ := Due(shopwatch.Target{Priority: 2}, time.Time{}, cst(2025, 11, 11, 0, 0), cal); prio != 10 {
		t.Errorf("unscheduled target on 11 November: priority %d, want 10", prio)
	}
}

func TestWindowFiltersAndOpening(t *testing.T) {
	cal, err := Parse("t.yaml", []byte(`
festivals:
  - name: 美妆节
    windows:
      - from: "06-01"
        to: "06-03"
        schedule: "0 22 * * *"
        boost: 4
        categories: [cosmetics]
        platforms: [Tmall, JD]
`))
	if err != nil {
		t.Fatal(err)
	}
	if cal.Location.String() != "Asia/Shanghai" {
		t.Errorf("default zone %s", cal.Location)
	}
	in := shopwatch.Target{ID: "c", Category: "cosmetics", Platform: "tmall", Schedule: "0 9 * * *"}
	out := shopwatch.Target{ID: "f", Category: "food", Platform: "tmall", Schedule: "0 9 * * *"}
	if _, prio, _ := Due(in, time.Time{}, cst(2025, 6, 2, 0, 0), cal); prio != 4 {
		t.Errorf("cosmetics on Tmall: priority %d, want 4", prio)
	}
	if _, prio, _ := Due(out, time.Time{}, cst(2025, 6, 2, 0, 0), cal); prio != 0 {
		t.Errorf("food: priority %d, want no boost", prio)
	}
	// A window's schedule counts from the window's opening: the 22:00 of
	// the evening before 1 June is not a window time.
	if due, _, _ := Due(in, cst(2025, 5, 31, 21, 0), cst(2025, 6, 1, 0, 10), cal); due {
		t.Errorf("due at the window's opening for a time before it opened")
	}
	if due, _, _ := Due(in, cst(2025, 5, 31, 21, 0), cst(2025, 6, 1, 22, 0), cal); !due {
		t.Errorf("not due at the window's first time")
	}
}

func TestLoadErrorsNameLines(t *testing.T) {
	const good = "timezone: Asia/Shanghai\nfestivals:\n  - name: \"618\"\n    windows:\n      - phase: main\n        from: \"06-01\"\n        to: \"06-18\"\n        schedule: \"0 */2 * * *\"\n        boost: 5\n"
	if _, err := Parse("good.yaml", []byte(good)); err != nil {
		t.Fatalf("the good calendar: %v", err)
	}
	for _, c := range []struct {
		name, text, want string
	}{
		{"syntax", "festivals:\n  - name: \"618\"\n    windows: x: y\n", "bad.yaml:3: mapping values are not allowed"},
		{"tab", "festivals:\n\t- name: x\n", "bad.yaml:2:"},
		{"unknown key", strings.Replace(good, "schedule:", "shedule:", 1), `bad.yaml:8: festival "618" window "main": unknown key "shedule"`},
		{"month", strings.Replace(good, `to: "06-18"`, `to: "13-01"`, 1), `bad.yaml:7: festival "618" window "main": to: month-day "13-01": month 13 out of range`},
		{"day", strings.Replace(good, `from: "06-01"`, `from: "02-30"`, 1), `bad.yaml:6: festival "618" window "main": from: month-day "02-30": day 30 out of range 1-29`},
		{"shape", strings.Replace(good, `from: "06-01"`, `from: "June 1"`, 1), `bad.yaml:6:`},
		{"cron", strings.Replace(good, `"0 */2 * * *"`, `"0 */2 * *"`, 1), `bad.yaml:8: festival "618" window "main": schedule: cron expression "0 */2 * *"`},
		{"missing schedule", strings.Replace(good, "        schedule: \"0 */2 * * *\"\n", "", 1), `bad.yaml:5: festival "618" window "main": no schedule`},
		{"boost", strings.Replace(good, "boost: 5", "boost: high", 1), `bad.yaml:9: festival "618" window "main": boost "high"`},
		{"zone", strings.Replace(good, "Asia/Shanghai", "Asia/Peking", 1), `bad.yaml:1: timezone "Asia/Peking"`},
		{"duplicate", good + "  - name: \"618\"\n    windows:\n      - {from: \"06-01\", to: \"06-02\", schedule: \"@hourly\"}\n", `bad.yaml:10: festival "618": already defined at line 3`},
		{"no windows", "festivals:\n  - name: x\n    windows: []\n", `bad.yaml:3: festival "x": want a list of one or more windows`},
		{"top key", "timezone: Asia/Shanghai\nfestival: []\n", `bad.yaml:2: calendar: unknown key "festival"`},
		{"empty", "", "bad.yaml:1: empty festival calendar"},
	} {
		_, err := Load(fstest.MapFS{"bad.yaml": {Data: []byte(c.text)}}, "bad.yaml")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to start with %q", c.name, err, c.want)
		}
	}
	if _, err := Load(fstest.MapFS{}, "missing.yaml"); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestShippedCalendar(t *testing.T) {
	cal := shipped(t)
	if cal.Location.String() != "Asia/Shanghai" {
		t.Errorf("zone %s", cal.Location)
	}
	var got []string
	for _, w := range cal.Windows {
		got = append(got, w.Name()+" "+w.From.String()+".."+w.To.String())
	}
	want := []string{
		"618/presale 05-20..05-31", "618/main 06-01..06-18",
		"双十一/main 10-20..11-11", "双十一/peak 11-11..11-11", "双十一/aftermath 11-12..11-12",
		"双十二/main 12-01..12-12", "年货节/main 12-26..01-25",
	}
	if !slices.Equal(got, want) {
		t.Errorf("windows %q, want %q", got, want)
	}
}

func TestHandBuiltCalendar(t *testing.T) {
	cal := &Calendar{Windows: []Window{{Festival: "店庆", From: MonthDay{3, 8}, To: MonthDay{3, 8}, Schedule: "*/10 * * * *", Boost: 1}}}
	tg := shopwatch.Target{ID: "x", Schedule: "0 0 1 1 *"}
	due, prio, err := Due(tg, cst(2025, 3, 8, 10, 0), cst(2025, 3, 8, 10, 10), cal)
	if !due || prio != 1 || err != nil {
		t.Errorf("hand-built window: due %v prio %d err %v", due, prio, err)
	}
	cal.Windows[0].Schedule = "bad"
	if _, _, err := Due(tg, cst(2025, 3, 8, 10, 0), cst(2025, 3, 8, 10, 10), cal); err == nil || !strings.Contains(err.Error(), "店庆") {
		t.Errorf("bad hand-built window: err %v, want one naming the window", err)
	}
}
