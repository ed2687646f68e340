package server

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"shopwatch"
	"shopwatch/db"
)

// TargetQuery filters GET /api/v1/targets: every field set must match.
type TargetQuery struct {
	Platform, Jurisdiction, Tag, Category string
	Kind                                  shopwatch.Kind
	// State is "active", "paused" or "" for both.
	State string
}

// Values encodes q as query parameters.
func (q TargetQuery) Values() map[string]string {
	return map[string]string{"platform": q.Platform, "jurisdiction": q.Jurisdiction, "tag": q.Tag,
		"category": q.Category, "kind": string(q.Kind), "state": q.State}
}

// Match reports whether t is one of the targets q selects.
func (q TargetQuery) Match(t *shopwatch.Target) bool {
	state := "active"
	if t.Paused {
		state = "paused"
	}
	return (q.Platform == "" || t.Platform == q.Platform) &&
		(q.Jurisdiction == "" || t.Jurisdiction == q.Jurisdiction || strings.HasPrefix(t.Jurisdiction, q.Jurisdiction+"/")) &&
		(q.Tag == "" || slices.Contains(t.Tags, q.Tag)) &&
		(q.Category == "" || t.Category == q.Category) &&
		(q.Kind == "" || t.Kind == q.Kind) &&
		(q.State == "" || q.State == state)
}

func (s *Server) listTargets(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q := TargetQuery{Platform: v.Get("platform"), Jurisdiction: v.Get("jurisdiction"), Tag: v.Get("tag"),
		Category: v.Get("category"), Kind: shopwatch.Kind(v.Get("kind")), State: v.Get("state")}
	if q.State != "" && q.State != "active" && q.State != "paused" {
		s.fail(w, r, badRequest("state %q: want active or paused", q.State))
		return
	}
	if q.Kind != "" {
		if _, err := shopwatch.ParseKind(string(q.Kind)); err != nil {
			s.fail(w, r, badRequest("kind: %v", err))
			return
		}
	}
	ts, err := s.db.ListAllTargets(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []shopwatch.Target{}
	for i := range ts {
		if q.Match(&ts[i]) && covers(r, ts[i].Jurisdiction) {
			out = append(out, ts[i])
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) addTarget(w http.ResponseWriter, r *http.Request) {
	var t shopwatch.Target
	if err := decode(w, r, &t); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := claimTarget(r, &t); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.checkTarget(&t); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.db.AddTarget(r.Context(), &t); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, t)
}

// checkTarget checks a new target as the database will, and with the
// server's own validation.
func (s *Server) checkTarget(t *shopwatch.Target) error {
	if t.URL == "" {
		return badRequest("url: required")
	}
	if t.Kind == "" {
		t.Kind = shopwatch.KindStorefront
	}
	if err := s.opts.ValidateTarget(t); err != nil {
		return badRequest("%v", err)
	}
	return nil
}

// BatchRequest is the body of POST /api/v1/targets/batch: targets added
// in one go; none is added unless all are valid.
type BatchRequest struct {
	Targets []shopwatch.Target `json:"targets"`
}

// BatchResult answers it: the targets added (with their ids) and those
// left out because a target with the same URL was stored.
type BatchResult struct {
	Added    []shopwatch.Target  `json:"added"`
	Existing []db.ExistingTarget `json:"existing"`
}

func (s *Server) addTargets(w http.ResponseWriter, r *http.Request) {
	var req BatchRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	for i := range req.Targets {
		if err := claimTarget(r, &req.Targets[i]); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.checkTarget(&req.Targets[i]); err != nil {
			s.fail(w, r, badRequest("targets[%d]: %v", i, err))
			return
		}
	}
	existing, err := s.db.AddTargets(r.Context(), req.Targets, nil)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	res := BatchResult{Added: []shopwatch.Target{}, Existing: existing}
	if res.Existing == nil {
		res.Existing = []db.ExistingTarget{}
	}
	for i, t := range req.Targets {
		if !slices.ContainsFunc(existing, func(e db.ExistingTarget) bool { return e.Index == i }) {
			res.Added = append(res.Added, t)
		}
	}
	writeJSON(w, http.StatusOK, res)
}

// getTarget answers a target by id, or by URL (the ref escaped in the
// path).
func (s *Server) getTarget(w http.ResponseWriter, r *http.Request) {
	t, err := s.visibleTarget(r, r.PathValue("ref"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

// EditRequest is the body of PATCH /api/v1/targets/{id}: the change and
// the audit action it is recorded under (target.edited, target.paused,
// target.resumed; default target.edited).
type EditRequest struct {
	Action string         `json:"action,omitempty"`
	Patch  db.TargetPatch `json:"patch"`
}

var editActions = []string{"target.edited", "target.paused", "target.resumed"}

func (s *Server) editTarget(w http.ResponseWriter, r *http.Request) {
	var req EditRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.Action == "" {
		req.Action = "target.edited"
	}
	if !slices.Contains(editActions, req.Action) {
		s.fail(w, r, badRequest("action %q: want one of %s", req.Action, strings.Join(editActions, ", ")))
		return
	}
	if req.Patch.Empty() {
		s.fail(w, r, badRequest("patch: nothing to change"))
		return
	}
	if _, err := s.visibleTarget(r, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	t, err := s.db.UpdateTarget(r.Context(), r.PathValue("id"), req.Action, func(t *shopwatch.Target) error {
		req.Patch.Apply(t)
		if err := claimTarget(r, t); err != nil {
			return err
		}
		if err := s.opts.ValidateTarget(t); err != nil {
			return badRequest("%v", err)
		}
		return nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (s *Server) deleteTarget(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := s.visibleTarget(r, id); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.db.DeleteTarget(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id, "removed": "true"})
}

func (s *Server) targetStatuses(w http.ResponseWriter, r *http.Request) {
	st, err := s.db.TargetStatuses(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if st == nil {
		st = map[string]db.TargetStatus{}
	}
	ids, err := s.coveredTargets(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ids != nil {
		for id := range st {
			if !slices.Contains(ids, id) {
				delete(st, id)
			}
		}
	}
	writeJSON(w, http.StatusOK, st)
}

// intParam reads a non-negative integer query parameter (0 when absent).
func intParam(r *http.Request, name string) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badRequest("%s %q: want a non-negative integer", name, v)
	}
	return n, nil
}

// visibleTarget returns the target ref names (an id or a URL) when the
// caller's jurisdiction covers it; one outside it is not found, as if it
// did not exist.
func (s *Server) visibleTarget(r *http.Request, ref string) (*shopwatch.Target, error) {
	t, err := s.db.FindTarget(r.Context(), ref)
	if err != nil {
		return nil, err
	}
	if !covers(r, t.Jurisdiction) {
		return nil, fmt.Errorf("target %s: %w", ref, db.ErrNotFound)
	}
	return t, nil
}
