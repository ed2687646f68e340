package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server"
)

var quiet = slog.New(slog.DiscardHandler)

// rig is a server over a real database, serving on the data directory's
// socket.
type rig struct {
	dir string
	db  *db.DB
	srv *server.Server
	c   *server.Client
}

func start(t *testing.T, opts server.Options) *rig {
	t.Helper()
	// A short folder: a unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "sw-api-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d, err := db.Open(filepath.Join(dir, "shopwatch.db"), db.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = quiet
	srv := server.New(d, opts)
	ln, err := server.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Stat(server.SocketPath(dir)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the socket outlived the server: %v", err)
		}
		if err := d.Check(context.Background()); err != nil {
			t.Errorf("database check: %v", err)
		}
		d.Close()
	})
	c, err := server.Dial(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{dir: dir, db: d, srv: srv, c: c}
}

// raw sends a request over the socket and returns the status and body.
func (r *rig) raw(t *testing.T, method, path string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", server.SocketPath(r.dir))
	}}}
	req, err := http.NewRequest(method, "http://shopwatch"+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func wantError(t *testing.T, what string, status int, b []byte, wantStatus int, code, mention string) {
	t.Helper()
	var eb server.ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil {
		t.Errorf("%s: answer is not the JSON error form: %q", what, b)
		return
	}
	if status != wantStatus || eb.Code != code || !strings.Contains(eb.Error, mention) {
		t.Errorf("%s: %d %+v, want %d %s mentioning %q", what, status, eb, wantStatus, code, mention)
	}
}

func currentUser(t *testing.T) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// The client adds, finds, lists, edits, pauses and removes targets through
// the server, and gets the database's own errors back; the audit log names
// who called, from the socket's peer credentials and the operator header.
func TestTargetsThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	r := start(t, server.Options{})
	a := shopwatch.Target{URL: "http://127.0.0.1:9/shop/1/", Kind: shopwatch.KindStorefront, Platform: "淘宝", Jurisdiction: "上海市/杨浦区", Tags: []string{"618"}, Depth: 1}
	if err := r.c.AddTarget(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(a.ID, "t-") || a.Added.IsZero() {
		t.Fatalf("added target %+v: no id or time", a)
	}
	r.c.Operator = "张三"
	b := shopwatch.Target{URL: "http://127.0.0.1:9/item/2", Kind: shopwatch.KindProduct, Platform: "京东", Jurisdiction: "上海市/黄浦区"}
	if err := r.c.AddTarget(ctx, &b); err != nil {
		t.Fatal(err)
	}
	dup := shopwatch.Target{URL: "http://127.0.0.1:9/shop/1/?utm_source=x", Kind: shopwatch.KindStorefront}
	if err := r.c.AddTarget(ctx, &dup); !errors.Is(err, db.ErrTargetExists) || !strings.Contains(err.Error(), a.ID) {
		t.Errorf("duplicate URL: %v, want ErrTargetExists naming %s", err, a.ID)
	}
	for _, ref := range []string{a.ID, a.URL} {
		got, err := r.c.FindTarget(ctx, ref)
		if err != nil || got.ID != a.ID || got.Platform != "淘宝" {
			t.Errorf("FindTarget(%q): %+v, %v", ref, got, err)
		}
	}
	if _, err := r.c.FindTarget(ctx, "t-nosuch"); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("unknown target: %v, want ErrNotFound", err)
	}

	ids := func(ts []shopwatch.Target, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range ts {
			out = append(out, x.ID)
		}
		sort.Strings(out)
		return out
	}
	both := []string{a.ID, b.ID}
	sort.Strings(both)
	for _, c := range []struct {
		q    server.TargetQuery
		want []string
	}{
		{server.TargetQuery{}, both},
		{server.TargetQuery{Jurisdiction: "上海市"}, both},
		{server.TargetQuery{Jurisdiction: "上海市/杨浦区"}, []string{a.ID}},
		{server.TargetQuery{Jurisdiction: "上海"}, nil}, // a prefix of a name is not a jurisdiction above
		{server.TargetQuery{Platform: "京东"}, []string{b.ID}},
		{server.TargetQuery{Tag: "618"}, []string{a.ID}},
		{server.TargetQuery{Kind: shopwatch.KindProduct}, []string{b.ID}},
		{server.TargetQuery{State: "paused"}, nil},
	} {
		if got := ids(r.c.ListTargets(ctx, c.q)); !slices.Equal(got, c.want) {
			t.Errorf("ListTargets(%+v) = %v, want %v", c.q, got, c.want)
		}
	}

	prio, tags := 7, []string{"双十一", "食品"}
	got, err := r.c.EditTarget(ctx, a.ID, "", db.TargetPatch{Priority: &prio, Tags: &tags})
	if err != nil || got.Priority != 7 || !slices.Equal(got.Tags, tags) || got.Platform != "淘宝" {
		t.Fatalf("EditTarget: %+v, %v", got, err)
	}
	paused := true
	if _, err := r.c.EditTarget(ctx, b.ID, "target.paused", db.TargetPatch{Paused: &paused}); err != nil {
		t.Fatal(err)
	}
	if got := ids(r.c.ListTargets(ctx, server.TargetQuery{State: "paused"})); !slices.Equal(got, []string{b.ID}) {
		t.Errorf("paused targets %v, want %s", got, b.ID)
	}
	depth := db.MaxDepth + 1
	if _, err := r.c.EditTarget(ctx, a.ID, "", db.TargetPatch{Depth: &depth}); !errors.Is(err, db.ErrInvalid) {
		t.Errorf("depth above the maximum: %v, want ErrInvalid", err)
	}
	if _, err := r.c.EditTarget(ctx, "t-nosuch", "", db.TargetPatch{Depth: &prio}); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("edit of an unknown target: %v, want ErrNotFound", err)
	}
	if err := r.c.DeleteTarget(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.c.DeleteTarget(ctx, b.ID); !errors.Is(err, db.ErrNotFound) {
		t.Errorf("second removal: %v, want ErrNotFound", err)
	}

	if err := r.c.RecordAudit(ctx, "evidence.verified", "case.zip: ev-1 VERIFIED"); err != nil {
		t.Fatal(err)
	}
	// Who did what: the system user for the first target, the operator
	// with the system user for the rest.
	es, err := r.c.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	me := currentUser(t)
	want := map[string]string{"target.added " + a.ID: me, "target.added " + b.ID: "张三 [" + me + "]", "target.paused " + b.ID: "张三 [" + me + "]",
		"evidence.verified case.zip": "张三 [" + me + "]"}
	for _, e := range es {
		for k, actor := range want {
			action, id, _ := strings.Cut(k, " ")
			if e.Action == action && strings.Contains(e.Detail, id) {
				if e.Actor != actor {
					t.Errorf("audit %s %s: actor %q, want %q", action, id, e.Actor, actor)
				}
				delete(want, k)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("audit log lacks %v", want)
	}
	if page, err := r.c.ListAudit(ctx, es[0].Seq, 1); err != nil || len(page) != 1 || page[0].Seq != es[1].Seq {
		t.Errorf("audit page after %d: %+v, %v", es[0].Seq, page, err)
	}
}

// A batch is added in one go, none unless all are valid; targets already
// stored are named and skipped.
func TestBatchAdd(t *testing.T) {
	ctx := context.Background()
	r := start(t, server.Options{ValidateTarget: func(t *shopwatch.Target) error {
		if t.Schedule == "never" {
			return fmt.Errorf("schedule %q is not a cron expression", t.Schedule)
		}
		return nil
	}})
	first := shopwatch.Target{URL: "http://127.0.0.1:9/a", Kind: shopwatch.KindProduct}
	if err := r.c.AddTarget(ctx, &first); err != nil {
		t.Fatal(err)
	}
	bad := []shopwatch.Target{{URL: "http://127.0.0.1:9/b", Kind: shopwatch.KindProduct}, {URL: "http://127.0.0.1:9/c", Schedule: "never"}}
	if _, err := r.c.AddTargets(ctx, bad); !errors.Is(err, db.ErrInvalid) || !strings.Contains(err.Error(), "targets[1]") || !strings.Contains(err.Error(), "never") {
		t.Errorf("batch with a bad schedule: %v, want ErrInvalid naming targets[1]", err)
	}
	bad = []shopwatch.Target{{URL: "http://127.0.0.1:9/b"}, {URL: "ftp://127.0.0.1/x"}}
	if _, err := r.c.AddTargets(ctx, bad); err == nil || !strings.Contains(err.Error(), "target 1") {
		t.Errorf("batch with an ftp URL: %v", err)
	}
	if ts, _ := r.c.ListTargets(ctx, server.TargetQuery{}); len(ts) != 1 {
		t.Fatalf("refused batches added targets: %d stored", len(ts))
	}
	ts := []shopwatch.Target{{URL: "http://127.0.0.1:9/b", Kind: shopwatch.KindProduct}, {URL: "http://127.0.0.1:9/a", Kind: shopwatch.KindProduct}, {URL: "http://127.0.0.1:9/c"}}
	existing, err := r.c.AddTargets(ctx, ts)
	if err != nil {
		t.Fatal(err)
	}
	if len(existing) != 1 || existing[0].Index != 1 || existing[0].ID != first.ID {
		t.Errorf("existing %+v, want index 1 = %s", existing, first.ID)
	}
	if ts[0].ID == "" || ts[2].ID == "" || ts[1].ID != "" || ts[2].Kind != shopwatch.KindStorefront {
		t.Errorf("added targets not filled in: %+v", ts)
	}
}

// Bad input gets a clear 4xx answer in the JSON error form and changes
// nothing.
func TestBadInput(t *testing.T) {
	r := start(t, server.Options{})
	before, _ := r.db.ListAudit(context.Background(), 0, 0)
	cases := []struct {
		name, method, path string
		body               []byte
		status             int
		code, mention      string
	}{
		{"malformed JSON", "POST", "/api/v1/targets", []byte(`{"url": `), 400, server.CodeInvalid, "body"},
		{"unknown field", "POST", "/api/v1/targets", []byte(`{"url": "http://127.0.0.1:9/x", "colour": "red"}`), 400, server.CodeInvalid, "colour"},
		{"two values", "POST", "/api/v1/targets", []byte(`{"url": "http://127.0.0.1:9/x"} {}`), 400, server.CodeInvalid, "more than one"},
		{"no url", "POST", "/api/v1/targets", []byte(`{"kind": "product"}`), 400, server.CodeInvalid, "url"},
		{"bad kind", "POST", "/api/v1/targets", []byte(`{"url": "http://127.0.0.1:9/x", "kind": "shop"}`), 400, server.CodeInvalid, "kind"},
		{"credentials", "POST", "/api/v1/targets", []byte(`{"url": "http://u:secret@127.0.0.1:9/x"}`), 400, server.CodeInvalid, "user name or password"},
		{"too large", "POST", "/api/v1/targets/batch", append(append([]byte(`{"targets": [{"url": "`), bytes.Repeat([]byte("a"), server.MaxBody)...), `"}]}`...), 413, server.CodeTooLarge, "larger than"},
		{"empty patch", "PATCH", "/api/v1/targets/t-x", []byte(`{"patch": {}}`), 400, server.CodeInvalid, "nothing to change"},
		{"unknown action", "PATCH", "/api/v1/targets/t-x", []byte(`{"action": "target.removed", "patch": {"priority": 1}}`), 400, server.CodeInvalid, "action"},
		{"unknown target", "PATCH", "/api/v1/targets/t-x", []byte(`{"patch": {"priority": 1}}`), 404, server.CodeNotFound, "t-x"},
		{"unknown evidence", "GET", "/api/v1/evidence/ev-nosuch", nil, 404, server.CodeNotFound, "ev-nosuch"},
		{"bad limit", "GET", "/api/v1/audit?limit=-1", nil, 400, server.CodeInvalid, "limit"},
		{"bad since", "GET", "/api/v1/findings?since=yesterday", nil, 400, server.CodeInvalid, "since"},
		{"bad state", "GET", "/api/v1/targets?state=gone", nil, 400, server.CodeInvalid, "state"},
		{"sweep of all and some", "POST", "/api/v1/sweeps", []byte(`{"all": true, "targets": ["t-1"]}`), 400, server.CodeInvalid, "not both"},
		{"sweep without a sweeper", "POST", "/api/v1/sweeps", []byte(`{"all": true}`), 503, server.CodeUnavailable, "runs no sweeps"},
		{"unknown sweep", "GET", "/api/v1/sweeps/s-nosuch", nil, 404, server.CodeNotFound, "s-nosuch"},
		{"custody of another kind", "POST", "/api/v1/audit", []byte(`{"action": "target.deleted", "detail": "t-x"}`), 400, server.CodeInvalid, "evidence.exported"},
		{"custody without detail", "POST", "/api/v1/audit", []byte(`{"action": "evidence.verified", "detail": " "}`), 400, server.CodeInvalid, "detail"},
		{"unknown route", "GET", "/api/v1/nothing", nil, 404, server.CodeNotFound, "/api/v1/nothing"},
		{"traversal", "GET", "/api/v1/evidence/..%2F..%2Fetc%2Fpasswd", nil, 404, server.CodeNotFound, "not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, b := r.raw(t, c.method, c.path, c.body)
			wantError(t, c.name, status, b, c.status, c.code, c.mention)
		})
	}
	status, h, b := r.raw(t, "PUT", "/api/v1/targets", []byte(`{}`))
	wantError(t, "PUT /api/v1/targets", status, b, 405, server.CodeMethodNotAllowed, "not allowed")
	if !strings.Contains(h.Get("Allow"), "GET") || !strings.Contains(h.Get("Allow"), "POST") {
		t.Errorf("405 answer's Allow header: %q", h.Get("Allow"))
	}
	after, _ := r.db.ListAudit(context.Background(), 0, 0)
	if ts, _ := r.db.ListAllTargets(context.Background()); len(ts) != 0 || len(after) != len(before) {
		t.Errorf("bad input changed the database: %d targets, audit %d → %d entries", len(ts), len(before), len(after))
	}
}

// The OpenAPI document names exactly the routes the server registers, each
// operation with an id and its answers, and every reference in it
// resolves.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	r := start(t, server.Options{})
	status, _, b := r.raw(t, "GET", "/api/v1/openapi.json", nil)
	if status != 200 || !bytes.Equal(b, server.OpenAPI) {
		t.Fatalf("GET /api/v1/openapi.json: %d, %d bytes", status, len(b))
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil || op.OperationID == "" || len(op.Responses) == 0 {
				t.Errorf("%s %s: no operationId or responses (%v)", method, path, err)
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, rt := range r.srv.Routes() {
		registered[rt.Method+" "+rt.Path] = true
		if !documented[rt.Method+" "+rt.Path] {
			t.Errorf("route %s %s is not in openapi.json", rt.Method, rt.Path)
		}
	}
	for k := range documented {
		if !registered[k] {
			t.Errorf("openapi.json documents %s, which the server does not serve", k)
		}
	}
	var all any
	json.Unmarshal(b, &all)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				node := all
				for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
					m, _ := node.(map[string]any)
					node = m[part]
				}
				if node == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, y := range x {
				walk(y)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(all)
}

// One server per data directory: a second Listen is refused while the
// first answers; a socket left by a server that died is replaced; the
// socket is the owner's alone; and Dial finds no server where none
// answers.
func TestSocket(t *testing.T) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sw-sock-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if _, err := server.Dial(ctx, dir); !errors.Is(err, server.ErrNoServer) {
		t.Errorf("Dial without a socket: %v", err)
	}
	ln, err := server.Listen(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(server.SocketPath(dir))
	if err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v mode %v, want a 0600 socket", err, st.Mode())
	}
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	if _, err := server.Listen(dir); !errors.Is(err, server.ErrRunning) {
		t.Errorf("second Listen: %v, want ErrRunning", err)
	}
	// A server that died leaves its socket: nothing answers on it.
	dead, err := net.Listen("unix", filepath.Join(dir, "dead.sock"))
	if err != nil {
		t.Fatal(err)
	}
	dead.(*net.UnixListener).SetUnlinkOnClose(false)
	dead.Close()
	ln.Close()
	if err := os.Rename(filepath.Join(dir, "dead.sock"), server.SocketPath(dir)); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Dial(ctx, dir); !errors.Is(err, server.ErrNoServer) {
		t.Errorf("Dial of a dead server's socket: %v, want ErrNoServer", err)
	}
	ln2, err := server.Listen(dir)
	if err != nil {
		t.Fatalf("Listen over a dead server's socket: %v", err)
	}
	ln2.Close()
	if _, err := os.Stat(server.SocketPath(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket is left after Close: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".socket-") {
			t.Errorf("Listen left %s behind", e.Name())
		}
	}
}

// GET /metrics answers in the Prometheus text format: the requests
// answered by route and code, the rows of the main tables, the queue.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	r := start(t, server.Options{})
	for i := range 3 {
		tg := shopwatch.Target{URL: fmt.Sprintf("http://127.0.0.1:9/m/%d", i), Kind: shopwatch.KindProduct}
		if err := r.c.AddTarget(ctx, &tg); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.c.FindTarget(ctx, "t-nosuch"); err == nil {
		t.Fatal("unknown target found")
	}
	status, _, b := r.raw(t, "GET", "/metrics", nil)
	if status != 200 {
		t.Fatalf("GET /metrics: %d %s", status, b)
	}
	text := string(b)
	for _, want := range []string{
		`shopwatch_api_requests_total{code="Created",route="POST /api/v1/targets"} 3`,
		`shopwatch_api_requests_total{code="Not Found",route="GET /api/v1/targets/{ref}"} 1`,
		`shopwatch_rows{table="targets"} 3`,
		`shopwatch_rows{table="audit"} 3`,
		`shopwatch_visits{state="pending"} 0`,
		`shopwatch_state_up 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}
