package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server"
	ledger "shopwatch/server/report"
)

func init() {
	register(command{name: "task", summary: "monitoring tasks (监测任务): named campaigns with a period, a scope of targets and rules", run: runTask})
	verbSummaries["task add"] = "add a task: NAME --from DATE [--until DATE] [--jurisdiction J] [--platform P,…] [--tags T,…] [--targets ID,…] [--rules ID,…]"
	verbSummaries["task list"] = "list tasks"
	verbSummaries["task show"] = "show a task with its statistics"
	verbSummaries["task run"] = "sweep the task's targets now"
}

func runTask(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "task", args, map[string]func(context.Context, *app, []string) error{
		"add":  taskAdd,
		"list": taskList,
		"show": taskShow,
		"run":  taskRun,
	})
}

// tasks is what the task commands need: the database, or the server's API.
type tasks interface {
	AddTask(ctx context.Context, t *db.Task) error
	ListTasks(ctx context.Context) ([]db.Task, error)
	GetTask(ctx context.Context, id string) (*db.Task, error)
	TaskStats(ctx context.Context, id, by string) ([]ledger.Stats, error)
}

func (a *app) tasks(ctx context.Context, readOnly bool) (tasks, error) {
	c, l, err := a.dataAPI(ctx, readOnly)
	if c != nil || err != nil {
		return c, err
	}
	return l, nil
}

func (l localData) AddTask(ctx context.Context, t *db.Task) error {
	return l.d.AddTask(l.ctx(ctx), t)
}

func (l localData) ListTasks(ctx context.Context) ([]db.Task, error) { return l.d.ListTasks(ctx) }

func (l localData) GetTask(ctx context.Context, id string) (*db.Task, error) {
	return l.d.GetTask(ctx, id)
}

func (l localData) TaskStats(ctx context.Context, id, by string) ([]ledger.Stats, error) {
	t, err := l.d.GetTask(ctx, id)
	if err != nil {
		return nil, err
	}
	ts, err := l.d.ListAllTargets(ctx)
	if err != nil {
		return nil, err
	}
	fs, err := l.d.TaskFindings(ctx, t, ts)
	if err != nil {
		return nil, err
	}
	targets := make(map[string]shopwatch.Target, len(ts))
	for _, x := range ts {
		targets[x.ID] = x
	}
	return ledger.Summarise(fs, targets, by)
}

func taskError(err error) error {
	if errors.Is(err, db.ErrInvalid) || errors.Is(err, db.ErrNotFound) {
		return usagef("%v", err)
	}
	return err
}

func taskAdd(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("task add", "task add NAME --from DATE [--until DATE] [--owner NAME] [--jurisdiction J] [--platform P,…] [--tags T,…] [--targets ID,…] [--rules ID,…]")
	from := fs.String("from", "", "the day the task starts (2006-01-02, local time)")
	until := fs.String("until", "", "the last day of the task (empty: open)")
	owner := fs.String("owner", "", "who runs the task")
	jur := fs.String("jurisdiction", "", "targets of this jurisdiction and those below it")
	platforms := fs.String("platform", "", "targets on these platforms, comma-separated")
	tags := fs.String("tags", "", "targets with any of these tags, comma-separated")
	targets := fs.String("targets", "", "these targets (ids), comma-separated")
	ruleIDs := fs.String("rules", "", "the rules the task is about, comma-separated (default: all)")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	day := func(flag, s string, end bool) (time.Time, error) {
		if s == "" {
			return time.Time{}, nil
		}
		d, err := time.ParseInLocation(time.DateOnly, s, a.location())
		if err != nil {
			return time.Time{}, usagef("--%s %q: want a date, 2006-01-02", flag, s)
		}
		if end {
			d = d.AddDate(0, 0, 1).Add(-time.Second)
		}
		return d, nil
	}
	t := &db.Task{Name: pos[0], Owner: *owner, Scope: db.TaskScope{Jurisdiction: *jur, Platforms: splitList(*platforms), Tags: splitList(*tags), Targets: splitList(*targets)},
		Rules: splitList(*ruleIDs)}
	if t.From, err = day("from", *from, false); err != nil {
		return err
	}
	if t.Until, err = day("until", *until, true); err != nil {
		return err
	}
	if len(t.Rules) > 0 {
		rs, err := a.ruleset()
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, r := range rs.Rules() {
			known[r.ID] = true
		}
		var unknown []string
		for _, id := range t.Rules {
			if !known[id] {
				unknown = append(unknown, id)
			}
		}
		if len(unknown) > 0 {
			return usagef("unknown rule %s (see shopwatch rules list)", strings.Join(unknown, ", "))
		}
	}
	w, err := a.tasks(ctx, false)
	if err != nil {
		return err
	}
	if err := w.AddTask(ctx, t); err != nil {
		return taskError(err)
	}
	fmt.Fprintln(a.stdout, t.ID)
	return nil
}

func taskList(ctx context.Context, a *app, args []string) error {
	return listing(a, "task list", args, nil,
		func() (tasks, error) { return a.tasks(ctx, true) },
		func(w tasks) ([]db.Task, error) { return w.ListTasks(ctx) },
		func(w io.Writer, ts []db.Task) {
			fmt.Fprintln(w, "ID\tNAME\tOWNER\tFROM\tUNTIL\tSTATE\tSCOPE")
			now := time.Now()
			for _, t := range ts {
				state := "active"
				switch {
				case now.Before(t.From):
					state = "planned"
				case !t.Active(now):
					state = "ended"
				}
				until := "-"
				if !t.Until.IsZero() {
					until = t.Until.In(a.location()).Format(time.DateOnly)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, cell(t.Owner), t.From.In(a.location()).Format(time.DateOnly), until, state, t.Scope.Text())
			}
		})
}

func taskShow(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("task show", "task show ID [--by jurisdiction|platform|category|rule] [--json]")
	by := fs.String("by", "", "group the statistics by "+strings.Join(ledger.Groupings, ", "))
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	w, err := a.tasks(ctx, true)
	if err != nil {
		return err
	}
	t, err := w.GetTask(ctx, pos[0])
	if err != nil {
		return taskError(err)
	}
	st, err := w.TaskStats(ctx, t.ID, *by)
	if err != nil {
		return taskError(err)
	}
	if *asJSON {
		return a.printJSON(struct {
			Task  *db.Task       `json:"task"`
			Stats []ledger.Stats `json:"stats"`
		}{t, st})
	}
	fmt.Fprintf(a.stdout, "%s %s (owner %s): %s to %s, %s; rules %s\n", t.ID, t.Name, cell(t.Owner), t.From.In(a.location()).Format(time.DateOnly),
		map[bool]string{true: "open", false: t.Until.In(a.location()).Format(time.DateOnly)}[t.Until.IsZero()], t.Scope.Text(),
		map[bool]string{true: "all", false: strings.Join(t.Rules, ", ")}[len(t.Rules) == 0])
	tw := newTable(a.stdout)
	fmt.Fprintln(tw, "GROUP\tTARGETS\tFINDINGS\tVIOLATIONS\tCONFIRMED\tDISMISSED\tLEADS\tCASES\tCLOSED\tCLOSED-LOOP")
	for _, s := range st {
		loop := "-"
		if s.Leads > 0 {
			loop = fmt.Sprintf("%.1f%%", 100*s.ClosedLoop)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", s.Group, s.Targets, s.Findings, s.Violations, s.Confirmed, s.Dismissed, s.Leads, s.Cases, s.Closed, loop)
	}
	return tw.Flush()
}

// taskRun sweeps the task's targets now, as `shopwatch sweep ID…` does
// (through the server when one runs).
func taskRun(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("task run", "task run ID")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	w, err := a.tasks(ctx, true)
	if err != nil {
		return err
	}
	t, err := w.GetTask(ctx, pos[0])
	if err != nil {
		return taskError(err)
	}
	ws, err := a.workspace(ctx, true)
	if err != nil {
		return err
	}
	ts, err := ws.ListTargets(ctx, server.TargetQuery{State: "active"})
	if err != nil {
		return err
	}
	var ids []string
	for i := range ts {
		if t.Scope.Selects(&ts[i]) {
			ids = append(ids, ts[i].ID)
		}
	}
	if len(ids) == 0 {
		fmt.Fprintf(a.stdout, "task %s selects no active target\n", t.ID)
		return nil
	}
	fmt.Fprintf(a.stderr, "task %s: sweeping %d targets\n", t.ID, len(ids))
	return runSweep(ctx, a, ids)
}
