package server

import (
	"fmt"
	"net/http"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server/report"
)

// visibleTask returns task id when the caller's jurisdiction covers the
// task's.
func (s *Server) visibleTask(r *http.Request, id string) (*db.Task, error) {
	t, err := s.db.GetTask(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if !covers(r, t.Scope.Jurisdiction) {
		return nil, fmt.Errorf("task %s: %w", id, db.ErrNotFound)
	}
	return t, nil
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	ts, err := s.db.ListTasks(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []db.Task{}
	for _, t := range ts {
		if covers(r, t.Scope.Jurisdiction) {
			out = append(out, t)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// addTask stores a task; a caller who works for a jurisdiction makes
// tasks within it (the scope gets theirs when it names none).
func (s *Server) addTask(w http.ResponseWriter, r *http.Request) {
	var t db.Task
	if err := decode(w, r, &t); err != nil {
		s.fail(w, r, err)
		return
	}
	t.ID, t.Created = "", t.Created.UTC()
	if p := PrincipalOf(r.Context()); p != nil && p.Jurisdiction != "" {
		if t.Scope.Jurisdiction == "" {
			t.Scope.Jurisdiction = p.Jurisdiction
		}
		if !p.Covers(t.Scope.Jurisdiction) {
			s.fail(w, r, &forbiddenError{"task scope " + t.Scope.Jurisdiction + " lies outside " + p.Jurisdiction + ", the jurisdiction of " + p.Name})
			return
		}
		if t.Owner == "" {
			t.Owner = p.Name
		}
	}
	for _, id := range t.Scope.Targets {
		if _, err := s.visibleTarget(r, id); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := s.db.AddTask(r.Context(), &t); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.visibleTask(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// runTask sweeps the task's targets now.
func (s *Server) runTask(w http.ResponseWriter, r *http.Request) {
	t, err := s.visibleTask(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.opts.Sweeper == nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, errUnavailable.Error())
		return
	}
	ts, err := s.db.ListTargets(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req := SweepRequest{Name: "task " + t.ID}
	for i := range ts {
		if t.Scope.Selects(&ts[i]) && covers(r, ts[i].Jurisdiction) {
			req.Targets = append(req.Targets, ts[i].ID)
		}
	}
	if len(req.Targets) == 0 {
		writeJSON(w, http.StatusAccepted, SweepStarted{})
		return
	}
	started, err := s.opts.Sweeper.Start(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, started)
}

// taskStats answers the statistics of a task (by, as GET
// /api/v1/reports/stats).
func (s *Server) taskStats(w http.ResponseWriter, r *http.Request) {
	t, err := s.visibleTask(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ts, err := s.db.ListAllTargets(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	fs, err := s.db.TaskFindings(r.Context(), t, ts)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	targets := map[string]shopwatch.Target{}
	for _, x := range ts {
		targets[x.ID] = x
	}
	st, err := report.Summarise(fs, targets, r.URL.Query().Get("by"))
	if err != nil {
		s.fail(w, r, badRequest("%v", err))
		return
	}
	writeJSON(w, http.StatusOK, st)
}
