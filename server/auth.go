package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"shopwatch"
	"shopwatch/db"
)

// Who may call a route: a permission names the roles that have it. Routes
// without one (health, readiness, the OpenAPI document) are open.
type permission struct {
	name  string
	roles []db.Role
}

// The permissions of the routes (see the package documentation).
var (
	permOpen    = permission{name: "open"}
	permRead    = permission{"read", []db.Role{db.RoleViewer, db.RoleInspector, db.RoleCaseHandler, db.RoleAdmin}}
	permTargets = permission{"targets", []db.Role{db.RoleInspector, db.RoleAdmin}}
	permSweeps  = permission{"sweeps", []db.Role{db.RoleInspector, db.RoleAdmin}}
	permCustody = permission{"custody", []db.Role{db.RoleCaseHandler, db.RoleAdmin}}
	// permReview: inspectors confirm, dismiss and hand over findings;
	// case handlers decide leads (the handler checks which step).
	permReview = permission{"review", []db.Role{db.RoleInspector, db.RoleCaseHandler, db.RoleAdmin}}
	permAdmin  = permission{"admin", []db.Role{db.RoleAdmin}}
)

// Principal is who calls: a person by token, or the data directory's
// owner over the socket (an admin of every jurisdiction).
type Principal struct {
	db.User
	// Local: the call came over the unix socket.
	Local bool
}

type principalKey struct{}

// PrincipalOf returns who makes the request whose context is ctx.
func PrincipalOf(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// CodeUnauthorized and CodeForbidden answer a call without a valid token
// (401) and one its role or jurisdiction does not allow (403).
const (
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
)

// authenticate finds who calls: the socket's peer (the owner), or the
// person of the bearer token. It answers 401 itself and returns nil when
// neither is there.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) *Principal {
	if user, ok := r.Context().Value(peerKey{}).(string); ok {
		name := actorOf(r)
		if name == "" {
			name = user
		}
		return &Principal{User: db.User{Name: name, Role: db.RoleAdmin}, Local: true}
	}
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
			secret, ok = c.Value, true
		}
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="shopwatch"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "an API token is needed: Authorization: Bearer <token> (shopwatch user token NAME)")
		return nil
	}
	u, _, err := s.db.Authenticate(r.Context(), strings.TrimSpace(secret))
	if err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="shopwatch", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, CodeUnauthorized, "the token is unknown, expired or revoked, or its user is disabled")
		return nil
	}
	return &Principal{User: *u}
}

// guard wraps a route's handler with its permission.
func (s *Server) guard(perm permission, h http.HandlerFunc) http.HandlerFunc {
	if perm.name == permOpen.name {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		p := s.authenticate(w, r)
		if p == nil {
			return
		}
		if !slices.Contains(perm.roles, p.Role) {
			writeError(w, http.StatusForbidden, CodeForbidden, "the role "+string(p.Role)+" of "+p.Name+" may not do this")
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		if !p.Local {
			ctx = db.WithActor(ctx, p.Name)
		}
		h(w, r.WithContext(ctx))
	}
}

// covers reports whether the caller may see a target of jurisdiction j.
func covers(r *http.Request, j string) bool {
	p := PrincipalOf(r.Context())
	return p == nil || p.Covers(j)
}

// targetCovered reports whether the caller may see what belongs to target
// id (its findings, its evidence): one lookup, not a scan of every target.
// What belongs to a removed target only callers of every area see.
func (s *Server) targetCovered(r *http.Request, id string) (bool, error) {
	p := PrincipalOf(r.Context())
	if p == nil || p.Jurisdiction == "" {
		return true, nil
	}
	t, err := s.db.GetTarget(r.Context(), id)
	if errors.Is(err, db.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return p.Covers(t.Jurisdiction), nil
}

// coveredTargets returns the ids of the targets the caller may see, or
// nil when they may see every one.
func (s *Server) coveredTargets(r *http.Request) ([]string, error) {
	p := PrincipalOf(r.Context())
	if p == nil || p.Jurisdiction == "" {
		return nil, nil
	}
	ts, err := s.db.ListAllTargets(r.Context())
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for _, t := range ts {
		if p.Covers(t.Jurisdiction) {
			ids = append(ids, t.ID)
		}
	}
	return ids, nil
}

// claimTarget puts a new or edited target in the caller's jurisdiction:
// one without a jurisdiction gets theirs; one outside it is refused.
func claimTarget(r *http.Request, t *shopwatch.Target) error {
	p := PrincipalOf(r.Context())
	if p == nil || p.Jurisdiction == "" {
		return nil
	}
	if t.Jurisdiction == "" {
		t.Jurisdiction = p.Jurisdiction
	}
	if !p.Covers(t.Jurisdiction) {
		return &forbiddenError{"jurisdiction " + t.Jurisdiction + " lies outside " + p.Jurisdiction + ", the jurisdiction of " + p.Name}
	}
	return nil
}

// forbiddenError is a 403.
type forbiddenError struct{ msg string }

func (e *forbiddenError) Error() string { return e.msg }
