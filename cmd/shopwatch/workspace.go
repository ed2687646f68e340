package main

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/rules"
	"shopwatch/server"
	"shopwatch/sweep/schedule"
)

// workspace is what the commands that manage targets and read findings,
// evidence and the audit log need of the data: the database itself, or,
// while "shopwatch serve" runs and owns the database, its API (the
// server's socket in the data directory). The commands behave alike over
// both; the API's errors wrap the database's.
type workspace interface {
	AddTarget(ctx context.Context, t *shopwatch.Target) error
	// AddTargets adds ts in one commit, none unless all are valid, and
	// fills in their ids; progress, when the database does the work
	// here, is called as it writes.
	AddTargets(ctx context.Context, ts []shopwatch.Target, progress func(done int)) ([]db.ExistingTarget, error)
	FindTarget(ctx context.Context, ref string) (*shopwatch.Target, error)
	ListTargets(ctx context.Context, q server.TargetQuery) ([]shopwatch.Target, error)
	EditTarget(ctx context.Context, id, action string, p db.TargetPatch) (*shopwatch.Target, error)
	DeleteTarget(ctx context.Context, id string) error
	TargetStatuses(ctx context.Context) (map[string]db.TargetStatus, error)
	ListFindings(ctx context.Context, f db.Filter) ([]shopwatch.Finding, error)
	GetFinding(ctx context.Context, id string) (*shopwatch.Finding, error)
	ReviewFinding(ctx context.Context, id string, r db.Review) (*shopwatch.Finding, error)
	GetSweep(ctx context.Context, id string) (*db.Sweep, error)
	ListEvidence(ctx context.Context) ([]shopwatch.EvidenceRecord, error)
	GetEvidence(ctx context.Context, id string) (*shopwatch.EvidenceRecord, error)
	ListAudit(ctx context.Context, after uint64, limit int) ([]db.AuditEntry, error)
}

// workspace returns the server's API when a server answers on the data
// directory's socket, else the database, opened read-only for commands
// that only read.
func (a *app) workspace(ctx context.Context, readOnly bool) (workspace, error) {
	if a.db == nil {
		c, err := a.serverClient(ctx)
		if err != nil {
			return nil, err
		}
		if c != nil {
			return apiWorkspace{c}, nil
		}
	}
	d, err := a.openDBMode(readOnly)
	if err != nil {
		return nil, err
	}
	return &localWorkspace{d: d, actor: a.actor(), validate: a.validateTarget}, nil
}

// serverClient returns the client of the server running on the data
// directory, or nil when none runs.
func (a *app) serverClient(ctx context.Context) (*server.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	dir, err := a.dataDir()
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := server.Dial(dctx, dir)
	if errors.Is(err, server.ErrNoServer) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if cfg, err := a.config(); err == nil {
		c.Operator = cfg.Operator
	}
	a.client = c
	return c, nil
}

// actor is who the audit log names for what this command does: the
// configured operator, with the system user in brackets, or the system
// user; the server names the caller the same way.
func (a *app) actor() string {
	who := ""
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	op := ""
	if c, err := a.config(); err == nil {
		op = c.Operator
	}
	switch {
	case op != "" && who != "" && op != who:
		return op + " [" + who + "]"
	case op != "":
		return op
	default:
		return who
	}
}

// validateTarget checks what the database cannot: the schedule (a cron
// expression) and the category (one the rule set knows, put in its normal
// form).
func (a *app) validateTarget(t *shopwatch.Target) error {
	if t.Category == "" {
		return targetValidator(nil)(t)
	}
	rs, err := a.ruleset()
	if err != nil {
		return err
	}
	return targetValidator(rs)(t)
}

// targetValidator is validateTarget with the rule set loaded once, for the
// server's concurrent requests.
func targetValidator(rs *rules.RuleSet) func(*shopwatch.Target) error {
	return func(t *shopwatch.Target) error {
		if err := schedule.Validate(*t); err != nil {
			return err
		}
		if t.Category == "" {
			return nil
		}
		c, err := checkCategory(rs, t.Category)
		if err != nil {
			return err
		}
		t.Category = c
		return nil
	}
}

// serverOwnsDB is the error of a command that needs the database itself
// while a server owns it.
func serverOwnsDB(c *server.Client, err error) error {
	return fmt.Errorf("%w\nthe shopwatch server (socket %s) owns the database while it runs; this command does not go through its API yet: run it when the server is stopped (target, findings, evidence list, export and verify, sweep, sweep list and audit list go through the server)", err, c.Socket())
}

// localWorkspace is the database itself.
type localWorkspace struct {
	d        *db.DB
	actor    string
	validate func(*shopwatch.Target) error
}

func (l *localWorkspace) ctx(ctx context.Context) context.Context { return db.WithActor(ctx, l.actor) }

func (l *localWorkspace) AddTarget(ctx context.Context, t *shopwatch.Target) error {
	return l.d.AddTarget(l.ctx(ctx), t)
}

func (l *localWorkspace) AddTargets(ctx context.Context, ts []shopwatch.Target, progress func(int)) ([]db.ExistingTarget, error) {
	return l.d.AddTargets(l.ctx(ctx), ts, progress)
}

func (l *localWorkspace) FindTarget(ctx context.Context, ref string) (*shopwatch.Target, error) {
	return l.d.FindTarget(ctx, ref)
}

func (l *localWorkspace) ListTargets(ctx context.Context, q server.TargetQuery) ([]shopwatch.Target, error) {
	ts, err := l.d.ListAllTargets(ctx)
	if err != nil {
		return nil, err
	}
	out := ts[:0]
	for i := range ts {
		if q.Match(&ts[i]) {
			out = append(out, ts[i])
		}
	}
	return out, nil
}

func (l *localWorkspace) EditTarget(ctx context.Context, id, action string, p db.TargetPatch) (*shopwatch.Target, error) {
	return l.d.UpdateTarget(l.ctx(ctx), id, action, func(t *shopwatch.Target) error {
		p.Apply(t)
		if err := l.validate(t); err != nil {
			return fmt.Errorf("%w: %v", db.ErrInvalid, err)
		}
		return nil
	})
}

func (l *localWorkspace) DeleteTarget(ctx context.Context, id string) error {
	return l.d.DeleteTarget(l.ctx(ctx), id)
}

func (l *localWorkspace) TargetStatuses(ctx context.Context) (map[string]db.TargetStatus, error) {
	return l.d.TargetStatuses(ctx)
}

func (l *localWorkspace) ListFindings(ctx context.Context, f db.Filter) ([]shopwatch.Finding, error) {
	return l.d.ListFindings(ctx, f)
}

func (l *localWorkspace) GetFinding(ctx context.Context, id string) (*shopwatch.Finding, error) {
	return l.d.GetFinding(ctx, id)
}

func (l *localWorkspace) ReviewFinding(ctx context.Context, id string, r db.Review) (*shopwatch.Finding, error) {
	return l.d.ReviewFinding(l.ctx(ctx), id, r)
}

func (l *localWorkspace) GetSweep(ctx context.Context, id string) (*db.Sweep, error) {
	return l.d.GetSweep(ctx, id)
}

func (l *localWorkspace) ListEvidence(ctx context.Context) ([]shopwatch.EvidenceRecord, error) {
	return l.d.ListEvidence(ctx)
}

func (l *localWorkspace) GetEvidence(ctx context.Context, id string) (*shopwatch.EvidenceRecord, error) {
	return l.d.GetEvidence(ctx, id)
}

func (l *localWorkspace) ListAudit(ctx context.Context, after uint64, limit int) ([]db.AuditEntry, error) {
	return l.d.ListAudit(ctx, after, limit)
}

// apiWorkspace is the API of the server that owns the database.
type apiWorkspace struct{ *server.Client }

func (w apiWorkspace) AddTargets(ctx context.Context, ts []shopwatch.Target, progress func(int)) ([]db.ExistingTarget, error) {
	existing, err := w.Client.AddTargets(ctx, ts)
	if err == nil && progress != nil {
		progress(len(ts))
	}
	return existing, err
}
