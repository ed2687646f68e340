package db

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"shopwatch"
)

// A task needs a name and a period in order, and names only stored
// targets; its scope selects targets by jurisdiction (and below),
// platform, tag or id; its statistics count the findings of its targets,
// period and rules.
func TestTasks(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	d, _ := newTestDB(t, WithClock(clk.Now))
	a := shopwatch.Target{URL: "http://127.0.0.1:9/a", Kind: shopwatch.KindProduct, Platform: "淘宝", Jurisdiction: "上海市/杨浦区", Tags: []string{"双十一"}}
	b := shopwatch.Target{URL: "http://127.0.0.1:9/b", Kind: shopwatch.KindProduct, Platform: "京东", Jurisdiction: "上海市/黄浦区"}
	for _, tg := range []*shopwatch.Target{&a, &b} {
		if err := d.AddTarget(ctx, tg); err != nil {
			t.Fatal(err)
		}
	}
	from := clk.Now()
	for _, bad := range []Task{{From: from}, {Name: "x"}, {Name: "x", From: from, Until: from.Add(-time.Hour)}, {Name: "x", From: from, Scope: TaskScope{Targets: []string{"t-nosuch"}}}} {
		if err := d.AddTask(ctx, &bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddTask(%+v): %v, want ErrInvalid", bad, err)
		}
	}
	task := &Task{Name: "双十一网络集中监测", Owner: "张三", From: from, Until: from.Add(48 * time.Hour),
		Scope: TaskScope{Jurisdiction: "上海市"}, Rules: []string{"ad.absolute-term"}}
	if err := d.AddTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		s    TaskScope
		want []bool // a, b
	}{
		{TaskScope{Jurisdiction: "上海市"}, []bool{true, true}},
		{TaskScope{Jurisdiction: "上海市/杨浦区"}, []bool{true, false}},
		{TaskScope{Platforms: []string{"京东"}}, []bool{false, true}},
		{TaskScope{Tags: []string{"双十一", "618"}}, []bool{true, false}},
		{TaskScope{Targets: []string{b.ID}}, []bool{false, true}},
		{TaskScope{Jurisdiction: "上海市/杨浦区", Targets: []string{b.ID}}, []bool{true, true}},
	} {
		if got := []bool{c.s.Selects(&a), c.s.Selects(&b)}; !slices.Equal(got, c.want) {
			t.Errorf("scope %+v selects %v, want %v", c.s, got, c.want)
		}
	}
	// Findings: one of the task's rule on each target in its period, one
	// of another rule, and one seen after the task ended.
	record := func(tg shopwatch.Target, rule string) {
		t.Helper()
		v := shopwatch.Visit{URL: tg.URL, Kind: shopwatch.KindProduct, TargetID: tg.ID}
		if _, _, err := d.PlanSweep(ctx, "s", []shopwatch.Visit{v}, nil, clk.Now()); err != nil {
			t.Fatal(err)
		}
		vs, err := d.Lease(ctx, "w", 1, time.Minute)
		if err != nil || len(vs) != 1 {
			t.Fatalf("lease: %v %v", vs, err)
		}
		f := finding(vs[0], 1)
		f.Rule, f.Match = rule, rule+" "+tg.ID
		if err := d.Complete(ctx, vs[0], Result{Findings: []shopwatch.Finding{f}}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Hour)
	record(a, "ad.absolute-term")
	record(b, "ad.absolute-term")
	record(a, "licence.missing")
	clk.Advance(72 * time.Hour)
	late := shopwatch.Target{URL: "http://127.0.0.1:9/c", Kind: shopwatch.KindProduct, Jurisdiction: "上海市/静安区"}
	if err := d.AddTarget(ctx, &late); err != nil {
		t.Fatal(err)
	}
	record(late, "ad.absolute-term")
	all, err := d.ListAllTargets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.TaskFindings(ctx, task, all)
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, f := range got {
		if f.Rule != "ad.absolute-term" {
			t.Errorf("task counts a finding of rule %s", f.Rule)
		}
		targets = append(targets, f.TargetID)
	}
	slices.Sort(targets)
	want := []string{a.ID, b.ID}
	slices.Sort(want)
	if !slices.Equal(targets, want) {
		t.Errorf("task findings of targets %v, want %v (in period, of its rule)", targets, want)
	}
	ts, err := d.ListTasks(ctx)
	if err != nil || len(ts) != 1 || ts[0].ID != task.ID || !ts[0].Active(from.Add(time.Hour)) || ts[0].Active(from.Add(49*time.Hour)) {
		t.Errorf("ListTasks: %+v %v", ts, err)
	}
	if _, err := d.GetTask(ctx, "task-nosuch"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown task: %v", err)
	}
}
