package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"shopwatch"
	"shopwatch/db"
)

// MaxBody is the largest request body the API reads.
const MaxBody = 8 << 20

// Error codes of the API (see the package documentation).
const (
	CodeInvalid          = "invalid"
	CodeNotFound         = "not_found"
	CodeExists           = "exists"
	CodeUserExists       = "user_exists"
	CodeTooLarge         = "too_large"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeUnavailable      = "unavailable"
	CodeInternal         = "internal"
)

// Route is one route the server serves: its method and path pattern (as
// net/http.ServeMux and OpenAPI write it, e.g. /api/v1/targets/{id}).
type Route struct {
	Method, Path string
	// Permission names who may call it: open, read (every role),
	// targets and sweeps (inspectors), custody (case handlers), admin.
	Permission string
}

// Options configure a Server.
type Options struct {
	// ValidateTarget checks a new or edited target beyond what the
	// database checks (its schedule, its category); its error is a 400.
	ValidateTarget func(*shopwatch.Target) error
	// Export makes the bundles POST /api/v1/evidence/{id}/export asks
	// for; without it that route answers 503.
	Export Exporter
	// Verify checks the bundles POST /api/v1/evidence/verify uploads;
	// without it that route answers 503.
	Verify Verifier
	// Sweeper plans and runs the sweeps POST /api/v1/sweeps asks for;
	// without one that route answers 503.
	Sweeper Sweeper
	// Office names the office on the notices the server writes.
	Office struct{ Name, Address string }
	// Spool, when set, reports the local spool (GET /metrics).
	Spool SpoolState
	// Logger receives one line per request (default slog.Default()).
	Logger *slog.Logger
}

// Server serves the API over the database it owns.
type Server struct {
	db      *db.DB
	opts    Options
	log     *slog.Logger
	mux     *http.ServeMux
	routes  []Route
	ready   atomic.Bool
	seq     atomic.Uint64
	metrics *metrics
	limiter *loginLimiter
}

// New returns a server over d, which it uses and never closes.
func New(d *db.DB, opts Options) *Server {
	s := &Server{db: d, opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.opts.ValidateTarget == nil {
		s.opts.ValidateTarget = func(*shopwatch.Target) error { return nil }
	}
	s.ready.Store(d != nil)
	s.metrics = newMetrics(s)
	s.limiter = &loginLimiter{failures: map[string][]time.Time{}, now: time.Now}
	s.consoleRoutes()
	s.handle("GET /healthz", permOpen, s.healthz)
	s.handle("GET /readyz", permOpen, s.readyz)
	s.handle("GET /metrics", permRead, s.serveMetrics)
	s.handle("POST /api/v1/login", permOpen, s.login)
	s.handle("POST /api/v1/logout", permOpen, s.logout)
	s.handle("GET /api/v1/openapi.json", permOpen, serveOpenAPI)
	s.handle("GET /api/v1/targets", permRead, s.listTargets)
	s.handle("POST /api/v1/targets", permTargets, s.addTarget)
	s.handle("POST /api/v1/targets/batch", permTargets, s.addTargets)
	s.handle("GET /api/v1/targets/{ref}", permRead, s.getTarget)
	s.handle("PATCH /api/v1/targets/{id}", permTargets, s.editTarget)
	s.handle("DELETE /api/v1/targets/{id}", permTargets, s.deleteTarget)
	s.handle("GET /api/v1/target-statuses", permRead, s.targetStatuses)
	s.handle("GET /api/v1/findings", permRead, s.listFindings)
	s.handle("GET /api/v1/findings/{id}", permRead, s.getFinding)
	s.handle("POST /api/v1/findings/{id}/review", permReview, s.reviewFinding)
	s.handle("GET /api/v1/findings/{id}/notice", permRead, s.notice)
	s.handle("GET /api/v1/sweeps", permRead, s.listSweeps)
	s.handle("POST /api/v1/sweeps", permSweeps, s.startSweep)
	s.handle("GET /api/v1/sweeps/{id}", permRead, s.getSweep)
	s.handle("GET /api/v1/evidence", permRead, s.listEvidence)
	s.handle("GET /api/v1/evidence/{id}", permRead, s.getEvidence)
	s.handle("POST /api/v1/evidence/{id}/export", permCustody, s.exportEvidence)
	s.handle("POST /api/v1/evidence/verify", permRead, s.verifyUpload)
	s.handle("GET /api/v1/tasks", permRead, s.listTasks)
	s.handle("POST /api/v1/tasks", permTargets, s.addTask)
	s.handle("GET /api/v1/tasks/{id}", permRead, s.getTask)
	s.handle("POST /api/v1/tasks/{id}/run", permSweeps, s.runTask)
	s.handle("GET /api/v1/tasks/{id}/stats", permRead, s.taskStats)
	s.handle("GET /api/v1/reports/ledger", permRead, s.ledger)
	s.handle("GET /api/v1/reports/stats", permRead, s.stats)
	s.handle("GET /api/v1/audit", permAdmin, s.listAudit)
	s.handle("POST /api/v1/audit", permCustody, s.recordCustody)
	s.handle("GET /api/v1/users", permAdmin, s.listUsers)
	s.handle("POST /api/v1/users", permAdmin, s.addUser)
	s.handle("PATCH /api/v1/users/{name}", permAdmin, s.editUser)
	s.handle("PUT /api/v1/users/{name}/password", permAdmin, s.setPassword)
	s.handle("POST /api/v1/users/{name}/tokens", permAdmin, s.addToken)
	s.handle("GET /api/v1/tokens", permAdmin, s.listTokens)
	s.handle("DELETE /api/v1/tokens/{id}", permAdmin, s.revokeToken)
	return s
}

// handle registers a route with who may call it and keeps it for Routes.
func (s *Server) handle(pattern string, perm permission, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.routes = append(s.routes, Route{Method: method, Path: path, Permission: perm.name})
	s.mux.HandleFunc(pattern, s.guard(perm, h))
}

// Routes lists the routes the server serves, in the order registered.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Handler returns the server's HTTP handler: the routes, with the caller's
// identity put in the request's context (see Actor) and a log line per
// request.
func (s *Server) Handler() http.Handler {
	// Cross-site requests that change state (a form another site posts
	// with the console's session cookie) are refused: Go's
	// CrossOriginProtection judges Sec-Fetch-Site and Origin; API clients
	// and the command line send neither and pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, CodeForbidden, "cross-origin request refused")
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := s.seq.Add(1)
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		ctx := r.Context()
		if actor := actorOf(r); actor != "" {
			ctx = db.WithActor(ctx, actor)
		}
		var h http.Handler = s.mux
		_, pattern := s.mux.Handler(r)
		defer func() { s.metrics.observe(pattern, rw.status, time.Since(start)) }()
		if pattern == "" {
			// Not a route of ours: an unknown path (404) or a method
			// the path does not take (405) answers in the API's JSON
			// form too.
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s.mux.ServeHTTP(&jsonErrorWriter{ResponseWriter: w, method: r.Method, path: r.URL.Path}, r)
			})
		}
		h.ServeHTTP(rw, r.WithContext(ctx))
		s.log.LogAttrs(ctx, slog.LevelInfo, "api request", slog.Uint64("request", id), slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", rw.status), slog.Duration("took", time.Since(start)))
	}))
}

// OperatorHeader carries the operator the caller's configuration names;
// the audit log records it beside the system user the socket reports.
const OperatorHeader = "X-Shopwatch-Operator"

// actorOf names who calls: the system user of the socket's peer, and the
// operator the request names.
func actorOf(r *http.Request) string {
	user, _ := r.Context().Value(peerKey{}).(string)
	op := strings.TrimSpace(r.Header.Get(OperatorHeader))
	switch {
	case op != "" && user != "" && op != user:
		return op + " [" + user + "]"
	case op != "":
		return op
	default:
		return user
	}
}

// jsonErrorWriter turns the mux's plain-text 404 and 405 answers into
// the API's JSON error, keeping the Allow header.
type jsonErrorWriter struct {
	http.ResponseWriter
	method, path string
	replaced     bool
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	switch code {
	case http.StatusMethodNotAllowed:
		w.replaced = true
		writeError(w.ResponseWriter, code, CodeMethodNotAllowed, fmt.Sprintf("%s %s: method not allowed (allowed: %s)", w.method, w.path, w.Header().Get("Allow")))
		return
	case http.StatusNotFound:
		w.replaced = true
		writeError(w.ResponseWriter, code, CodeNotFound, fmt.Sprintf("no route %s %s", w.method, w.path))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets streamed answers through.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		writeError(w, http.StatusServiceUnavailable, CodeInternal, "the database is not open")
		return
	}
	if _, _, err := s.db.AuditHead(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeInternal, "the database does not answer: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, "encode answer: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(ErrorBody{Error: msg, Code: code})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// fail answers err with the status and code its kind calls for.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	var fe *forbiddenError
	switch {
	case errors.As(err, &fe):
		writeError(w, http.StatusForbidden, CodeForbidden, err.Error())
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("request body larger than %d bytes", mbe.Limit))
	case errors.Is(err, db.ErrNotFound):
		writeError(w, http.StatusNotFound, CodeNotFound, err.Error())
	case errors.Is(err, db.ErrUserExists):
		writeError(w, http.StatusConflict, CodeUserExists, err.Error())
	case errors.Is(err, db.ErrTargetExists):
		writeError(w, http.StatusConflict, CodeExists, err.Error())
	case errors.Is(err, db.ErrInvalid), errors.Is(err, errBadRequest):
		writeError(w, http.StatusBadRequest, CodeInvalid, err.Error())
	default:
		s.log.ErrorContext(r.Context(), "api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
	}
}

// errBadRequest marks a request that does not parse or names a field
// wrongly.
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}

// decode reads a JSON body into v: at most MaxBody bytes, one value, no
// unknown fields.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body := http.MaxBytesReader(w, r.Body, MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("body: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return badRequest("body: more than one JSON value")
	}
	return nil
}

// SetReady marks the server ready or not (readyz).
func (s *Server) SetReady(ok bool) { s.ready.Store(ok && s.db != nil) }
