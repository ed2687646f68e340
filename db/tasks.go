package db

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"shopwatch"
)

// bTasks holds the monitoring tasks, made by the first write that needs
// it.
var bTasks = []byte("tasks")

// Task is a monitoring task (监测任务): a named campaign over a period, on
// the targets its scope selects, watching for the rules it names.
type Task struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Owner string `json:"owner,omitempty"`
	// From and Until bound the campaign; a zero Until leaves it open.
	From  time.Time `json:"from"`
	Until time.Time `json:"until,omitzero"`
	Scope TaskScope `json:"scope"`
	// Rules, when set, are the rules the campaign is about: its
	// statistics count their findings only.
	Rules   []string  `json:"rules,omitempty"`
	Created time.Time `json:"created"`
}

// TaskScope selects a task's targets: every condition given must hold
// (targets named by id are taken whatever the others say).
type TaskScope struct {
	Jurisdiction string   `json:"jurisdiction,omitempty"` // and the areas below it
	Platforms    []string `json:"platforms,omitempty"`
	Tags         []string `json:"tags,omitempty"` // any of them
	Targets      []string `json:"targets,omitempty"`
}

// Selects reports whether the scope takes target t.
func (s *TaskScope) Selects(t *shopwatch.Target) bool {
	if slices.Contains(s.Targets, t.ID) {
		return true
	}
	if len(s.Targets) > 0 && s.Jurisdiction == "" && len(s.Platforms) == 0 && len(s.Tags) == 0 {
		return false // only the targets named
	}
	return InJurisdiction(t.Jurisdiction, s.Jurisdiction) &&
		(len(s.Platforms) == 0 || slices.Contains(s.Platforms, t.Platform)) &&
		(len(s.Tags) == 0 || slices.ContainsFunc(t.Tags, func(tag string) bool { return slices.Contains(s.Tags, tag) }))
}

// Text says in a line which targets the scope selects.
func (s TaskScope) Text() string {
	var parts []string
	if s.Jurisdiction != "" {
		parts = append(parts, s.Jurisdiction)
	}
	if len(s.Platforms) > 0 {
		parts = append(parts, "platform "+strings.Join(s.Platforms, "/"))
	}
	if len(s.Tags) > 0 {
		parts = append(parts, "tags "+strings.Join(s.Tags, "/"))
	}
	if len(s.Targets) > 0 {
		parts = append(parts, fmt.Sprintf("%d targets", len(s.Targets)))
	}
	if len(parts) == 0 {
		return "every target"
	}
	return strings.Join(parts, ", ")
}

// Active reports whether the task runs at now.
func (t *Task) Active(now time.Time) bool {
	return !now.Before(t.From) && (t.Until.IsZero() || !now.After(t.Until))
}

// AddTask stores a new task with a fresh id. A task needs a name and a
// period whose end is not before its start.
func (db *DB) AddTask(ctx context.Context, t *Task) error {
	t.Name = strings.TrimSpace(t.Name)
	t.Scope.Jurisdiction = strings.Trim(t.Scope.Jurisdiction, "/ ")
	switch {
	case t.Name == "" || len(t.Name) > 200:
		return fmt.Errorf("%w: a task needs a name (at most 200 bytes)", ErrInvalid)
	case t.From.IsZero():
		return fmt.Errorf("%w: task %q needs the date it starts", ErrInvalid, t.Name)
	case !t.Until.IsZero() && t.Until.Before(t.From):
		return fmt.Errorf("%w: task %q ends (%s) before it starts (%s)", ErrInvalid, t.Name, t.Until.Format(time.DateOnly), t.From.Format(time.DateOnly))
	}
	return db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		b, err := x.tx.CreateBucketIfNotExists(bTasks)
		if err != nil {
			return err
		}
		for _, id := range t.Scope.Targets {
			if x.tx.Bucket(bTargets).Get([]byte(id)) == nil {
				return fmt.Errorf("%w: task %q names target %s, which does not exist", ErrInvalid, t.Name, id)
			}
		}
		for t.ID == "" || b.Get([]byte(t.ID)) != nil {
			t.ID = "task-" + shortID()
		}
		t.Created = x.now
		t.From, t.Until = t.From.UTC(), t.Until.UTC()
		if err := putJSON(b, []byte(t.ID), t); err != nil {
			return err
		}
		return x.audit("task.added", fmt.Sprintf("task %s %q from %s until %s scope=%+v rules=%s", t.ID, t.Name,
			t.From.Format(time.DateOnly), t.Until.Format(time.DateOnly), t.Scope, strings.Join(t.Rules, ",")))
	})
}

// GetTask returns task id, or ErrNotFound.
func (db *DB) GetTask(ctx context.Context, id string) (*Task, error) {
	var t Task
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bTasks)
		if b == nil {
			return ErrNotFound
		}
		ok, err := getJSON(b, []byte(id), &t)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", id, err)
	}
	return &t, nil
}

// ListTasks returns every task, newest first.
func (db *DB) ListTasks(ctx context.Context) ([]Task, error) {
	var out []Task
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bTasks)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			var t Task
			if _, err := getJSON(b, k, &t); err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b Task) int { return b.Created.Compare(a.Created) })
	return out, err
}

// TaskFindings returns the findings a task's statistics count: of the
// targets its scope selects among ts, seen within its period, of its rules.
func (db *DB) TaskFindings(ctx context.Context, t *Task, ts []shopwatch.Target) ([]shopwatch.Finding, error) {
	ids := []string{}
	for i := range ts {
		if t.Scope.Selects(&ts[i]) {
			ids = append(ids, ts[i].ID)
		}
	}
	f := Filter{Targets: ids, Since: t.From, Until: t.Until}
	if len(t.Rules) > 0 {
		f.Rules = t.Rules
	}
	return db.ListFindings(ctx, f)
}
