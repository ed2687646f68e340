package db

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
)

// Buckets of people and their API tokens, made by the first write that
// needs them (a file without them has no users; older files open
// read-only as they are).
var (
	bUsers  = []byte("users")
	bTokens = []byte("tokens")
)

// ErrUserExists: a person of that name is already stored.
var ErrUserExists = errors.New("user already exists")

// Role is what a person may do. Each role may do what the ones before it
// may, and more: viewer < case handler < inspector < admin, except that
// only a case handler (and an admin) handles evidence and cases, and only
// an inspector (and an admin) changes targets and starts sweeps.
type Role string

// The roles.
const (
	RoleViewer      Role = "viewer"       // reads targets, findings and evidence of their jurisdiction
	RoleInspector   Role = "inspector"    // also adds and changes targets, starts sweeps, reviews findings
	RoleCaseHandler Role = "case-handler" // also exports evidence and moves leads to cases
	RoleAdmin       Role = "admin"        // everything, and people
)

// Roles lists the roles in order.
var Roles = []Role{RoleViewer, RoleInspector, RoleCaseHandler, RoleAdmin}

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.TrimSpace(strings.ToLower(s)))
	if !slices.Contains(Roles, r) {
		return "", fmt.Errorf("%w: role %q (want viewer, inspector, case-handler or admin)", ErrInvalid, s)
	}
	return r, nil
}

// User is a person who works with shopwatch through its API.
type User struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Jurisdiction is the area the person works for (上海市/杨浦区); they
	// see the targets, findings and evidence of it and of the areas below
	// it. Empty: every area (for admins and province-wide offices).
	Jurisdiction string    `json:"jurisdiction,omitempty"`
	Created      time.Time `json:"created"`
	Disabled     bool      `json:"disabled,omitempty"`
}

// Covers reports whether the jurisdiction j lies within the user's: the
// same area, or one below it ("上海市" covers "上海市/杨浦区", not "上海").
func (u *User) Covers(j string) bool {
	return InJurisdiction(j, u.Jurisdiction)
}

// InJurisdiction reports whether area j is within area of (the same, or
// below it); an empty of covers every area.
func InJurisdiction(j, of string) bool {
	of = strings.Trim(of, "/ ")
	j = strings.Trim(j, "/ ")
	return of == "" || j == of || strings.HasPrefix(j, of+"/")
}

// checkUserName: 1 to 64 characters, no slash, space or control.
func checkUserName(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 64 || strings.ContainsFunc(name, func(r rune) bool {
		return r <= ' ' || r == '/' || r == 0x7f
	}) {
		return fmt.Errorf("%w: user name %q (1 to 64 characters, no spaces or slashes)", ErrInvalid, name)
	}
	return nil
}

// AddUser stores a new person; an existing name is ErrExists.
func (db *DB) AddUser(ctx context.Context, u *User) error {
	if err := checkUserName(u.Name); err != nil {
		return err
	}
	if _, err := ParseRole(string(u.Role)); err != nil {
		return err
	}
	u.Jurisdiction = strings.Trim(u.Jurisdiction, "/ ")
	return db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		b, err := x.tx.CreateBucketIfNotExists(bUsers)
		if err != nil {
			return err
		}
		if b.Get([]byte(u.Name)) != nil {
			return fmt.Errorf("%w: %s", ErrUserExists, u.Name)
		}
		u.Created = x.now
		if err := putJSON(b, []byte(u.Name), u); err != nil {
			return err
		}
		return x.audit("user.added", fmt.Sprintf("user %s role=%s jurisdiction=%s", u.Name, u.Role, u.Jurisdiction))
	})
}

// GetUser returns the person named name, or ErrNotFound.
func (db *DB) GetUser(ctx context.Context, name string) (*User, error) {
	var u User
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bUsers)
		if b == nil {
			return ErrNotFound
		}
		ok, err := getJSON(b, []byte(name), &u)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("user %s: %w", name, err)
	}
	return &u, nil
}

// ListUsers returns every person, by name.
func (db *DB) ListUsers(ctx context.Context) ([]User, error) {
	var out []User
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bUsers)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			var u User
			if _, err := getJSON(b, k, &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

// SetUserDisabled disables a person (their tokens stop working) or enables
// them again.
func (db *DB) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	return db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		b := x.tx.Bucket(bUsers)
		var u User
		ok := false
		if b != nil {
			var err error
			if ok, err = getJSON(b, []byte(name), &u); err != nil {
				return err
			}
		}
		if !ok {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		u.Disabled = disabled
		if err := putJSON(b, []byte(name), &u); err != nil {
			return err
		}
		action := "user.enabled"
		if disabled {
			action = "user.disabled"
		}
		return x.audit(action, "user "+name)
	})
}

// Token is an API token of a person, stored by the SHA-256 of its secret:
// the secret itself is shown once, when made, and never stored.
type Token struct {
	ID      string    `json:"id"` // the first 12 hex digits of the hash, to name it
	User    string    `json:"user"`
	Label   string    `json:"label,omitempty"`
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// TokenPrefix starts every token's secret, so that a leaked one is
// recognisable.
const TokenPrefix = "swt_"

func tokenKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return []byte(hex.EncodeToString(h[:]))
}

// AddToken makes an API token for user, valid for ttl, and returns its
// secret (once) and its record.
func (db *DB) AddToken(ctx context.Context, user, label string, ttl time.Duration) (string, *Token, error) {
	if ttl <= 0 {
		return "", nil, fmt.Errorf("%w: token lifetime %v", ErrInvalid, ttl)
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", nil, err
	}
	secret := TokenPrefix + hex.EncodeToString(raw[:])
	key := tokenKey(secret)
	t := &Token{ID: string(key[:12]), User: user, Label: label}
	err := db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		users := x.tx.Bucket(bUsers)
		if users == nil || users.Get([]byte(user)) == nil {
			return fmt.Errorf("user %s: %w", user, ErrNotFound)
		}
		b, err := x.tx.CreateBucketIfNotExists(bTokens)
		if err != nil {
			return err
		}
		t.Created, t.Expires = x.now, x.now.Add(ttl)
		if err := putJSON(b, key, t); err != nil {
			return err
		}
		return x.audit("token.added", fmt.Sprintf("token %s of user %s (%s) until %s", t.ID, user, label, t.Expires.Format(time.RFC3339)))
	})
	if err != nil {
		return "", nil, err
	}
	return secret, t, nil
}

// Authenticate returns the person a token secret belongs to, when the
// token exists, has not expired and the person is not disabled; else an
// error wrapping ErrNotFound that does not say which.
func (db *DB) Authenticate(ctx context.Context, secret string) (*User, *Token, error) {
	var u User
	var t Token
	err := db.view(ctx, func(tx *bolt.Tx) error {
		tb, ub := tx.Bucket(bTokens), tx.Bucket(bUsers)
		if tb == nil || ub == nil || !strings.HasPrefix(secret, TokenPrefix) {
			return ErrNotFound
		}
		if ok, err := getJSON(tb, tokenKey(secret), &t); err != nil || !ok {
			return ErrNotFound
		}
		if ok, err := getJSON(ub, []byte(t.User), &u); err != nil || !ok || u.Disabled || !db.now().Before(t.Expires) {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("token: %w", ErrNotFound)
	}
	return &u, &t, nil
}

// RevokeToken removes the token whose id (or a longer prefix of its hash)
// is id.
func (db *DB) RevokeToken(ctx context.Context, id string) error {
	if len(id) < 12 {
		return fmt.Errorf("%w: token id %q (12 hex digits)", ErrInvalid, id)
	}
	return db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		b := x.tx.Bucket(bTokens)
		if b != nil {
			c := b.Cursor()
			for k, _ := c.Seek([]byte(id)); k != nil && strings.HasPrefix(string(k), id); k, _ = c.Next() {
				var t Token
				if _, err := getJSON(b, k, &t); err != nil {
					return err
				}
				if err := b.Delete(k); err != nil {
					return err
				}
				return x.audit("token.revoked", fmt.Sprintf("token %s of user %s", t.ID, t.User))
			}
		}
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	})
}

// ListTokens returns the tokens of user ("" for everyone's).
func (db *DB) ListTokens(ctx context.Context, user string) ([]Token, error) {
	var out []Token
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bTokens)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			var t Token
			if _, err := getJSON(b, k, &t); err != nil {
				return err
			}
			if user == "" || t.User == user {
				out = append(out, t)
			}
			return nil
		})
	})
	return out, err
}

// Counts is how many rows the main tables hold.
type Counts struct {
	Targets  int `json:"targets"`
	Findings int `json:"findings"`
	Evidence int `json:"evidence"`
	Audit    int `json:"audit"`
	Users    int `json:"users"`
}

// Count counts the rows of the main tables from bbolt's page statistics,
// without reading the rows.
func (db *DB) Count(ctx context.Context) (Counts, error) {
	var c Counts
	err := db.view(ctx, func(tx *bolt.Tx) error {
		n := func(name []byte) int {
			if b := tx.Bucket(name); b != nil {
				return b.Stats().KeyN
			}
			return 0
		}
		c = Counts{Targets: n(bTargets), Findings: n(bFindings), Evidence: n(bEvidence), Audit: n(bAudit), Users: n(bUsers)}
		return nil
	})
	return c, err
}

// bPasswords holds people's password hashes (PHC strings), apart from
// their records so that no listing carries them.
var bPasswords = []byte("passwords")

// SetPasswordHash stores the password hash (a PHC string made by the
// caller, e.g. $argon2id$…) of person name.
func (db *DB) SetPasswordHash(ctx context.Context, name, hash string) error {
	if !strings.HasPrefix(hash, "$") {
		return fmt.Errorf("%w: not a PHC password hash", ErrInvalid)
	}
	return db.update(ctx, actorFrom(ctx, ""), func(x *txn) error {
		users := x.tx.Bucket(bUsers)
		if users == nil || users.Get([]byte(name)) == nil {
			return fmt.Errorf("user %s: %w", name, ErrNotFound)
		}
		b, err := x.tx.CreateBucketIfNotExists(bPasswords)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(name), []byte(hash)); err != nil {
			return err
		}
		return x.audit("user.password", "password of user "+name+" set")
	})
}

// PasswordHash returns the stored password hash of person name, or
// ErrNotFound when they have none.
func (db *DB) PasswordHash(ctx context.Context, name string) (string, error) {
	var h string
	err := db.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bPasswords)
		if b == nil {
			return ErrNotFound
		}
		v := b.Get([]byte(name))
		if v == nil {
			return ErrNotFound
		}
		h = string(v)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("password of %s: %w", name, err)
	}
	return h, nil
}
