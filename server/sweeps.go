package server

import (
	"context"
	"errors"
	"net/http"

	"shopwatch/db"
)

// SweepRequest is the body of POST /api/v1/sweeps: sweep these targets
// now (ids or URLs), or, without targets, the targets that are due (every
// active target with All).
type SweepRequest struct {
	Targets []string `json:"targets,omitempty"`
	All     bool     `json:"all,omitempty"`
	Name    string   `json:"name,omitempty"`
	// Jurisdiction, set by the server for a caller who works for one,
	// keeps the due targets to that area and those below it.
	Jurisdiction string `json:"-"`
}

// SweepStarted answers it: the sweep planned ("" when no target was due)
// and how many targets it visits.
type SweepStarted struct {
	ID      string `json:"id"`
	Targets int    `json:"targets"`
}

// The states of a sweep the API reports.
const (
	SweepQueued      = "queued"      // planned, waiting for the sweep before it
	SweepRunning     = "running"     // its pages are being visited
	SweepFinished    = "finished"    // every page visited
	SweepFailed      = "failed"      // the run stopped with an error (Error says which); it resumes with the server
	SweepInterrupted = "interrupted" // pages left from a run that stopped, not queued now
)

// SweepStatus is a sweep with its counts and state (GET
// /api/v1/sweeps/{id}, and the items of GET /api/v1/sweeps).
type SweepStatus struct {
	db.Sweep
	Stats db.Stats `json:"stats"`
	State string   `json:"state"`
	Error string   `json:"error,omitempty"`
}

// Sweeper plans sweeps for the API and runs them in turn on the server's
// node; "shopwatch serve" gives one.
type Sweeper interface {
	// Start plans the sweep req asks for and queues it. Unknown targets
	// are errors wrapping db.ErrNotFound or db.ErrInvalid.
	Start(ctx context.Context, req SweepRequest) (SweepStarted, error)
	// State says what became of a sweep the server queued since it
	// started (ok false for others).
	State(id string) (state, errMsg string, ok bool)
}

// errUnavailable: the server has no sweeper.
var errUnavailable = errors.New("this server runs no sweeps")

func (s *Server) startSweep(w http.ResponseWriter, r *http.Request) {
	var req SweepRequest
	if err := decode(w, r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if req.All && len(req.Targets) > 0 {
		s.fail(w, r, badRequest("give all or targets, not both"))
		return
	}
	if s.opts.Sweeper == nil {
		writeError(w, http.StatusServiceUnavailable, CodeUnavailable, errUnavailable.Error())
		return
	}
	for _, ref := range req.Targets {
		if _, err := s.visibleTarget(r, ref); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if p := PrincipalOf(r.Context()); p != nil {
		req.Jurisdiction = p.Jurisdiction
	}
	started, err := s.opts.Sweeper.Start(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, started)
}

// status is a sweep with its counts and state.
func (s *Server) status(ctx context.Context, sw db.Sweep) (SweepStatus, error) {
	st, err := s.db.SweepStats(ctx, sw.ID)
	if err != nil && !errors.Is(err, db.ErrNotFound) {
		return SweepStatus{}, err
	}
	out := SweepStatus{Sweep: sw, Stats: st, State: SweepFinished}
	if s.opts.Sweeper != nil {
		if state, msg, ok := s.opts.Sweeper.State(sw.ID); ok {
			out.State, out.Error = state, msg
			return out, nil
		}
	}
	if st.Pending+st.Leased > 0 || st.Visits() == 0 {
		out.State = SweepInterrupted
	}
	return out, nil
}

func (s *Server) getSweep(w http.ResponseWriter, r *http.Request) {
	sw, err := s.db.GetSweep(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, err := s.status(r.Context(), *sw)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) listSweeps(w http.ResponseWriter, r *http.Request) {
	sweeps, err := s.db.ListSweeps(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]SweepStatus, 0, len(sweeps))
	for _, sw := range sweeps {
		st, err := s.status(r.Context(), sw)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		out = append(out, st)
	}
	writeJSON(w, http.StatusOK, out)
}
