package db

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// People and their tokens: names, roles and jurisdictions are checked; a
// token authenticates its person until it expires, is revoked or the
// person is disabled, and only its hash is stored; every change is in the
// audit log.
func TestUsersAndTokens(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	d, _ := newTestDB(t, WithClock(clk.Now))
	if us, err := d.ListUsers(ctx); err != nil || len(us) != 0 {
		t.Fatalf("a new database has users %v (%v)", us, err)
	}
	if _, _, err := d.Authenticate(ctx, TokenPrefix+"00"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a token on a database without tokens: %v", err)
	}
	u := &User{Name: "王明", Role: RoleInspector, Jurisdiction: "/上海市/杨浦区/"}
	if err := d.AddUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if u.Jurisdiction != "上海市/杨浦区" || u.Created.IsZero() {
		t.Errorf("stored user %+v", u)
	}
	for _, bad := range []*User{{Name: "王明", Role: RoleViewer}, {Name: "a b", Role: RoleViewer}, {Name: "", Role: RoleViewer}, {Name: "x", Role: "boss"}} {
		err := d.AddUser(ctx, bad)
		if bad.Name == "王明" && !errors.Is(err, ErrUserExists) || bad.Name != "王明" && !errors.Is(err, ErrInvalid) {
			t.Errorf("AddUser(%+v): %v", bad, err)
		}
	}
	if _, _, err := d.AddToken(ctx, "nobody", "", time.Hour); !errors.Is(err, ErrNotFound) {
		t.Errorf("token of an unknown user: %v", err)
	}
	secret, tok, err := d.AddToken(ctx, "王明", "laptop", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) != len(TokenPrefix)+64 || len(tok.ID) != 12 {
		t.Fatalf("token %q id %q", secret, tok.ID)
	}
	who, _, err := d.Authenticate(ctx, secret)
	if err != nil || who.Name != "王明" || who.Role != RoleInspector {
		t.Fatalf("Authenticate: %+v, %v", who, err)
	}
	for _, wrong := range []string{secret[:len(secret)-1] + "0", strings.TrimPrefix(secret, TokenPrefix), ""} {
		if wrong == secret {
			continue
		}
		if _, _, err := d.Authenticate(ctx, wrong); !errors.Is(err, ErrNotFound) {
			t.Errorf("Authenticate(%q): %v", wrong, err)
		}
	}
	// Only the hash is stored.
	err = d.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bTokens).ForEach(func(k, v []byte) error {
			if strings.Contains(string(k)+string(v), strings.TrimPrefix(secret, TokenPrefix)) {
				t.Error("the token's secret is stored")
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetUserDisabled(ctx, "王明", true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Authenticate(ctx, secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("token of a disabled user: %v", err)
	}
	if err := d.SetUserDisabled(ctx, "王明", false); err != nil {
		t.Fatal(err)
	}
	clk.Advance(25 * time.Hour)
	if _, _, err := d.Authenticate(ctx, secret); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired token: %v", err)
	}
	secret2, tok2, err := d.AddToken(ctx, "王明", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ts, _ := d.ListTokens(ctx, "王明"); len(ts) != 2 {
		t.Errorf("ListTokens: %d, want 2", len(ts))
	}
	if err := d.RevokeToken(ctx, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Authenticate(ctx, secret2); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoked token: %v", err)
	}
	if err := d.RevokeToken(ctx, tok2.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second revocation: %v", err)
	}
	es, _ := d.ListAudit(ctx, 0, 0)
	var actions []string
	for _, e := range es {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, " "); got != "user.added token.added user.disabled user.enabled token.added token.revoked" {
		t.Errorf("audit log: %s", got)
	}
}

func TestInJurisdiction(t *testing.T) {
	for _, c := range []struct {
		j, of string
		want  bool
	}{
		{"上海市/杨浦区", "上海市", true},
		{"上海市/杨浦区/五角场", "上海市/杨浦区", true},
		{"上海市", "上海市", true},
		{"上海市杨浦区", "上海市", false},
		{"上海", "上海市", false},
		{"", "上海市", false},
		{"浙江省/杭州市", "", true},
		{"上海市/黄浦区", "上海市/杨浦区", false},
	} {
		if got := InJurisdiction(c.j, c.of); got != c.want {
			t.Errorf("InJurisdiction(%q, %q) = %v", c.j, c.of, got)
		}
	}
}
