package server

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"shopwatch"
	"shopwatch/db"
)

// FindingParams encodes a findings filter as the query parameters of GET
// /api/v1/findings: sweep, target, targets (comma-separated; present but
// empty means none), visit, rule, rules (comma-separated), category,
// severity, state, stage, url, since, until (RFC 3339) and limit.
func FindingParams(f db.Filter) url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("sweep", f.Sweep)
	set("target", f.TargetID)
	if f.Targets != nil {
		v.Set("targets", strings.Join(f.Targets, ","))
	}
	set("visit", f.VisitID)
	set("rule", f.Rule)
	if len(f.Rules) > 0 {
		v.Set("rules", strings.Join(f.Rules, ","))
	}
	set("category", f.Category)
	set("severity", string(f.Severity))
	set("state", string(f.State))
	set("stage", string(f.Stage))
	set("url", f.URL)
	if !f.Since.IsZero() {
		v.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		v.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	return v
}

// findingFilter reads FindingParams back.
func findingFilter(r *http.Request) (db.Filter, error) {
	v := r.URL.Query()
	f := db.Filter{Sweep: v.Get("sweep"), TargetID: v.Get("target"), VisitID: v.Get("visit"), Rule: v.Get("rule"),
		Category: v.Get("category"), Severity: shopwatch.Severity(v.Get("severity")), State: shopwatch.FindingState(v.Get("state")),
		Stage: shopwatch.Stage(v.Get("stage")), URL: v.Get("url")}
	list := func(s string) []string {
		out := []string{}
		for _, x := range strings.Split(s, ",") {
			if x = strings.TrimSpace(x); x != "" {
				out = append(out, x)
			}
		}
		return out
	}
	if v.Has("targets") {
		f.Targets = list(v.Get("targets"))
	}
	if v.Has("rules") {
		f.Rules = list(v.Get("rules"))
	}
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := v.Get(b.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return f, badRequest("%s %q: want an RFC 3339 time", b.name, s)
			}
			*b.t = t
		}
	}
	n, err := intParam(r, "limit")
	if err != nil {
		return f, err
	}
	f.Limit = n
	return f, nil
}

func (s *Server) listFindings(w http.ResponseWriter, r *http.Request) {
	f, err := findingFilter(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids, err := s.coveredTargets(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ids != nil {
		if f.Targets == nil {
			f.Targets = ids
		} else {
			f.Targets = slices.DeleteFunc(f.Targets, func(id string) bool { return !slices.Contains(ids, id) })
		}
		if f.TargetID != "" && !slices.Contains(ids, f.TargetID) {
			f.Targets = []string{}
		}
	}
	fs, err := s.db.ListFindings(r.Context(), f)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if fs == nil {
		fs = []shopwatch.Finding{}
	}
	writeJSON(w, http.StatusOK, fs)
}

func (s *Server) listEvidence(w http.ResponseWriter, r *http.Request) {
	es, err := s.db.ListEvidence(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ids, err := s.coveredTargets(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []shopwatch.EvidenceRecord{}
	for _, e := range es {
		if ids == nil || slices.Contains(ids, e.TargetID) {
			out = append(out, e)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getEvidence(w http.ResponseWriter, r *http.Request) {
	ev, err := s.visibleEvidence(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

// visibleEvidence returns evidence record id when the caller's
// jurisdiction covers its target.
func (s *Server) visibleEvidence(r *http.Request, id string) (*shopwatch.EvidenceRecord, error) {
	ev, err := s.db.GetEvidence(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if ok, err := s.targetCovered(r, ev.TargetID); err != nil || !ok {
		return nil, cmp.Or(err, fmt.Errorf("evidence %s: %w", ev.ID, db.ErrNotFound))
	}
	return ev, nil
}

// listAudit answers audit entries after the sequence number "after" (0:
// from the first), at most "limit" (0: all).
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	after, err := intParam(r, "after")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	limit, err := intParam(r, "limit")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	es, err := s.db.ListAudit(r.Context(), uint64(after), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if es == nil {
		es = []db.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, es)
}

// CustodyRequest is the body of POST /api/v1/audit: a chain-of-custody
// event a caller did outside the server (an export, a verification),
// recorded under the caller's name.
type CustodyRequest struct {
	Action string `json:"action"`
	Detail string `json:"detail"`
}

// CustodyActions are the events POST /api/v1/audit records; every other
// entry of the audit log is written by the change it records.
var CustodyActions = []string{"evidence.exported", "evidence.verified"}

func (s *Server) recordCustody(w http.ResponseWriter, r *http.Request) {
	var req CustodyRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if !slices.Contains(CustodyActions, req.Action) {
		s.fail(w, r, badRequest("action %q: want one of %s", req.Action, strings.Join(CustodyActions, ", ")))
		return
	}
	if strings.TrimSpace(req.Detail) == "" || len(req.Detail) > 4096 {
		s.fail(w, r, badRequest("detail: between 1 and 4096 bytes"))
		return
	}
	if err := s.db.RecordAudit(r.Context(), req.Action, req.Detail); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, req)
}

// visibleFinding returns finding id when the caller's jurisdiction covers
// its target.
func (s *Server) visibleFinding(r *http.Request, id string) (*shopwatch.Finding, error) {
	f, err := s.db.GetFinding(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if ok, err := s.targetCovered(r, f.TargetID); err != nil || !ok {
		return nil, cmp.Or(err, fmt.Errorf("finding %s: %w", id, db.ErrNotFound))
	}
	return f, nil
}

func (s *Server) getFinding(w http.ResponseWriter, r *http.Request) {
	f, err := s.visibleFinding(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// decisionStages are the steps that decide a lead (case handlers'); the
// others (confirm, dismiss, hand over as a lead, reopen) are inspectors'.
var decisionStages = []shopwatch.Stage{shopwatch.StageCase, shopwatch.StageNotFiled, shopwatch.StageFirstOffence, shopwatch.StageRectification, shopwatch.StageClosed}

// reviewFinding moves a finding one step in its handling (POST
// /api/v1/findings/{id}/review, body db.Review).
func (s *Server) reviewFinding(w http.ResponseWriter, r *http.Request) {
	var req db.Review
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := checkReviewRole(PrincipalOf(r.Context()), req.To); err != nil {
		s.fail(w, r, err)
		return
	}
	if p := PrincipalOf(r.Context()); p != nil {
		if req.To == shopwatch.StageLead && !p.Covers(req.Jurisdiction) {
			s.fail(w, r, &forbiddenError{fmt.Sprintf("a lead handed to %s lies outside %s, the jurisdiction of %s", req.Jurisdiction, p.Jurisdiction, p.Name)})
			return
		}
	}
	if _, err := s.visibleFinding(r, r.PathValue("id")); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.db.ReviewFinding(r.Context(), r.PathValue("id"), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}
