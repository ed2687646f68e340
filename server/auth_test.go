package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"shopwatch"
	"shopwatch/db"
	"shopwatch/server"
)

// tcp serves the rig's server on a loopback TCP port as well, where every
// call but the open ones needs a token.
func (r *rig) tcp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.srv.Serve(ctx, ln, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return "http://" + ln.Addr().String()
}

func call(t *testing.T, base, token, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// person adds a user and returns a token of theirs.
func person(t *testing.T, d *db.DB, name string, role db.Role, jurisdiction string) string {
	t.Helper()
	ctx := context.Background()
	if err := d.AddUser(ctx, &db.User{Name: name, Role: role, Jurisdiction: jurisdiction}); err != nil {
		t.Fatal(err)
	}
	secret, _, err := d.AddToken(ctx, name, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// Every role is refused what it may not do, on every route: the expected
// permissions are written out here, apart from the server's table. A call
// without a token, or with a wrong, revoked or expired one, is 401; the
// open routes need none.
func TestEveryRoleOnEveryRoute(t *testing.T) {
	r := start(t, server.Options{})
	base := r.tcp(t)
	tokens := map[db.Role]string{}
	for _, role := range db.Roles {
		tokens[role] = person(t, r.db, "u-"+string(role), role, "")
	}
	// Who may call each route.
	all := []db.Role{db.RoleViewer, db.RoleInspector, db.RoleCaseHandler, db.RoleAdmin}
	inspectors := []db.Role{db.RoleInspector, db.RoleAdmin}
	want := map[string][]db.Role{
		"GET /healthz": nil, "GET /readyz": nil, "GET /api/v1/openapi.json": nil, "GET /metrics": all,
		"POST /api/v1/login": nil, "POST /api/v1/logout": nil, "PUT /api/v1/users/{name}/password": {db.RoleAdmin},
		"GET /api/v1/targets": all, "POST /api/v1/targets": inspectors, "POST /api/v1/targets/batch": inspectors,
		"GET /api/v1/targets/{ref}": all, "PATCH /api/v1/targets/{id}": inspectors, "DELETE /api/v1/targets/{id}": inspectors,
		"GET /api/v1/target-statuses": all, "GET /api/v1/findings": all, "GET /api/v1/findings/{id}": all, "GET /api/v1/findings/{id}/notice": all,
		// Confirming is an inspector's step (deciding a lead, below, a
		// case handler's).
		"POST /api/v1/findings/{id}/review": inspectors,
		"GET /api/v1/sweeps":                all, "POST /api/v1/sweeps": inspectors, "GET /api/v1/sweeps/{id}": all,
		"GET /api/v1/evidence": all, "GET /api/v1/evidence/{id}": all, "POST /api/v1/evidence/{id}/export": {db.RoleCaseHandler, db.RoleAdmin},
		"POST /api/v1/evidence/verify": all,
		"GET /api/v1/reports/ledger":   all, "GET /api/v1/reports/stats": all,
		"GET /api/v1/tasks": all, "POST /api/v1/tasks": inspectors, "GET /api/v1/tasks/{id}": all,
		"POST /api/v1/tasks/{id}/run": inspectors, "GET /api/v1/tasks/{id}/stats": all,
		"GET /api/v1/audit": {db.RoleAdmin}, "POST /api/v1/audit": {db.RoleCaseHandler, db.RoleAdmin},
		"GET /api/v1/users": {db.RoleAdmin}, "POST /api/v1/users": {db.RoleAdmin}, "PATCH /api/v1/users/{name}": {db.RoleAdmin},
		"POST /api/v1/users/{name}/tokens": {db.RoleAdmin}, "GET /api/v1/tokens": {db.RoleAdmin}, "DELETE /api/v1/tokens/{id}": {db.RoleAdmin},
	}
	bodies := map[string]any{
		"POST /api/v1/targets":              map[string]any{"url": "http://127.0.0.1:9/x"},
		"POST /api/v1/targets/batch":        map[string]any{"targets": []any{}},
		"PATCH /api/v1/targets/{id}":        map[string]any{"patch": map[string]any{"priority": 1}},
		"POST /api/v1/sweeps":               map[string]any{"all": true},
		"POST /api/v1/findings/{id}/review": map[string]any{"to": "confirmed"},
		"POST /api/v1/evidence/{id}/export": map[string]any{"no_pdf": true},
		"POST /api/v1/audit":                map[string]any{"action": "evidence.verified", "detail": "x"},
		"POST /api/v1/users":                map[string]any{"name": "new", "role": "viewer"},
		"PATCH /api/v1/users/{name}":        map[string]any{"disabled": false},
		"POST /api/v1/users/{name}/tokens":  map[string]any{"label": "x"},
	}
	fill := strings.NewReplacer("{ref}", "t-x", "{id}", "x-000000000000", "{name}", "u-viewer")
	routes := r.srv.Routes()
	if len(routes) != len(want) {
		t.Errorf("the server has %d routes, this test knows %d", len(routes), len(want))
	}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		allowed, known := want[key]
		if !known {
			t.Errorf("route %s: no expected permission in this test", key)
			continue
		}
		path := fill.Replace(rt.Path)
		if allowed == nil {
			if code, b := call(t, base, "", rt.Method, path, nil); code == http.StatusUnauthorized || code == http.StatusForbidden || rt.Method == "GET" && code != http.StatusOK {
				t.Errorf("%s without a token: %d %s, want it open", key, code, b)
			}
			continue
		}
		for _, bad := range []string{"", "swt_" + strings.Repeat("0", 64), "not-a-token"} {
			if code, b := call(t, base, bad, rt.Method, path, bodies[key]); code != http.StatusUnauthorized || !strings.Contains(string(b), server.CodeUnauthorized) {
				t.Errorf("%s with token %q: %d %s, want 401", key, bad, code, b)
			}
		}
		for _, role := range db.Roles {
			code, b := call(t, base, tokens[role], rt.Method, path, bodies[key])
			may := false
			for _, a := range allowed {
				may = may || a == role
			}
			switch {
			case !may && (code != http.StatusForbidden || !strings.Contains(string(b), server.CodeForbidden)):
				t.Errorf("%s as %s: %d %s, want 403", key, role, code, b)
			case may && (code == http.StatusForbidden || code == http.StatusUnauthorized):
				t.Errorf("%s as %s: %d %s, want it allowed", key, role, code, b)
			}
		}
	}
	// Deciding a lead is a case handler's step, not an inspector's.
	decide := map[string]any{"to": "case", "case_no": "X"}
	for role, wantCode := range map[db.Role]int{db.RoleCaseHandler: http.StatusNotFound, db.RoleAdmin: http.StatusNotFound, db.RoleInspector: http.StatusForbidden, db.RoleViewer: http.StatusForbidden} {
		if code, b := call(t, base, tokens[role], "POST", "/api/v1/findings/f-x/review", decide); code != wantCode {
			t.Errorf("deciding a lead as %s: %d %s, want %d", role, code, b, wantCode)
		}
	}
	// Over the socket the owner may do everything.
	if _, err := r.c.ListAudit(context.Background(), 0, 1); err != nil {
		t.Errorf("audit over the socket: %v", err)
	}
}

// Each person sees and changes the targets of their jurisdiction and those
// below it only: others' are not found, a new target lands in theirs, one
// for another area is refused, and the audit log names the person.
func TestJurisdictionScope(t *testing.T) {
	ctx := context.Background()
	r := start(t, server.Options{})
	base := r.tcp(t)
	yangpu := person(t, r.db, "杨浦检查员", db.RoleInspector, "上海市/杨浦区")
	city := person(t, r.db, "市局查看", db.RoleViewer, "上海市")
	other := shopwatch.Target{URL: "http://127.0.0.1:9/hp", Kind: shopwatch.KindProduct, Jurisdiction: "上海市/黄浦区"}
	if err := r.c.AddTarget(ctx, &other); err != nil {
		t.Fatal(err)
	}
	code, b := call(t, base, yangpu, "POST", "/api/v1/targets", map[string]any{"url": "http://127.0.0.1:9/yp", "kind": "product"})
	var mine shopwatch.Target
	if code != http.StatusCreated || json.Unmarshal(b, &mine) != nil || mine.Jurisdiction != "上海市/杨浦区" {
		t.Fatalf("add without a jurisdiction: %d %s, want it in 上海市/杨浦区", code, b)
	}
	if code, b := call(t, base, yangpu, "POST", "/api/v1/targets", map[string]any{"url": "http://127.0.0.1:9/hp2", "jurisdiction": "上海市/黄浦区"}); code != http.StatusForbidden || !strings.Contains(string(b), "黄浦区") {
		t.Errorf("add for another area: %d %s, want 403", code, b)
	}
	if code, _ := call(t, base, yangpu, "PATCH", "/api/v1/targets/"+mine.ID, map[string]any{"patch": map[string]any{"jurisdiction": "上海市/黄浦区"}}); code != http.StatusForbidden {
		t.Errorf("move a target to another area: %d, want 403", code)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/api/v1/targets/" + other.ID}, {"PATCH", "/api/v1/targets/" + other.ID}, {"DELETE", "/api/v1/targets/" + other.ID}} {
		if code, _ := call(t, base, yangpu, c.method, c.path, map[string]any{"patch": map[string]any{"priority": 3}}); code != http.StatusNotFound {
			t.Errorf("%s of another area's target: %d, want 404", c.method, code)
		}
	}
	list := func(token string) []string {
		t.Helper()
		code, b := call(t, base, token, "GET", "/api/v1/targets", nil)
		var ts []shopwatch.Target
		if code != http.StatusOK || json.Unmarshal(b, &ts) != nil {
			t.Fatalf("list: %d %s", code, b)
		}
		var ids []string
		for _, x := range ts {
			ids = append(ids, x.ID)
		}
		return ids
	}
	if got := list(yangpu); len(got) != 1 || got[0] != mine.ID {
		t.Errorf("杨浦区 sees %v, want only %s", got, mine.ID)
	}
	if got := list(city); len(got) != 2 {
		t.Errorf("上海市 sees %v, want both", got)
	}
	code, b = call(t, base, city, "POST", "/api/v1/targets", map[string]any{"url": "http://127.0.0.1:9/v"})
	if code != http.StatusForbidden {
		t.Errorf("a viewer adds a target: %d %s", code, b)
	}
	es, err := r.db.ListAudit(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range es {
		found = found || e.Action == "target.added" && strings.Contains(e.Detail, mine.ID) && e.Actor == "杨浦检查员"
	}
	if !found {
		t.Error("the audit log does not name 杨浦检查员 for the target they added")
	}
}

// A person logs in with their password: the session cookie works like a
// token until logout; wrong passwords are refused, and after five failures
// from one address the name is locked out for a while; a form posted from
// another site with the cookie is refused.
func TestLoginSessions(t *testing.T) {
	ctx := context.Background()
	r := start(t, server.Options{})
	base := r.tcp(t)
	admin := person(t, r.db, "管理员", db.RoleAdmin, "")
	person(t, r.db, "王明", db.RoleViewer, "上海市/杨浦区")
	if code, b := call(t, base, admin, "PUT", "/api/v1/users/王明/password", map[string]any{"password": "short"}); code != http.StatusBadRequest {
		t.Errorf("a short password: %d %s", code, b)
	}
	if code, b := call(t, base, admin, "PUT", "/api/v1/users/王明/password", map[string]any{"password": "correct horse battery"}); code != http.StatusOK {
		t.Fatalf("set password: %d %s", code, b)
	}
	hash, err := r.db.PasswordHash(ctx, "王明")
	if err != nil || !strings.HasPrefix(hash, "$argon2id$v=19$m=65536,t=3,p=2$") || strings.Contains(hash, "horse") {
		t.Fatalf("stored hash %q (%v)", hash, err)
	}
	login := func(password string, hdr map[string]string) *http.Response {
		t.Helper()
		b, _ := json.Marshal(map[string]string{"name": "王明", "password": password})
		req, _ := http.NewRequest("POST", base+"/api/v1/login", bytes.NewReader(b))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := login("correct horse battery", nil)
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == server.SessionCookie {
			session = c
		}
	}
	if resp.StatusCode != http.StatusOK || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
		t.Fatalf("login: %d, cookie %+v", resp.StatusCode, session)
	}
	withCookie := func(method, path string, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(`{"url": "http://127.0.0.1:9/x"}`))
		req.AddCookie(session)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := withCookie("GET", "/api/v1/targets", nil); code != http.StatusOK {
		t.Errorf("targets with the session cookie: %d", code)
	}
	// A viewer's session may not add; a cross-site post is refused before
	// the role is even asked.
	if code := withCookie("POST", "/api/v1/targets", nil); code != http.StatusForbidden {
		t.Errorf("viewer adds a target with the session: %d, want 403", code)
	}
	if code := withCookie("POST", "/api/v1/logout", map[string]string{"Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site logout: %d, want 403", code)
	}
	if code := withCookie("POST", "/api/v1/logout", nil); code != http.StatusOK {
		t.Errorf("logout: %d", code)
	}
	if code := withCookie("GET", "/api/v1/targets", nil); code != http.StatusUnauthorized {
		t.Errorf("the session after logout: %d, want 401", code)
	}
	for i := range 5 {
		if resp := login("wrong password!", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d", i, resp.StatusCode)
		}
	}
	if resp := login("correct horse battery", nil); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("login after five failures: %d, want 429 with Retry-After", resp.StatusCode)
	}
}
