package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"shopwatch/db"
	"shopwatch/server"
)

func init() {
	register(command{name: "user", summary: "people who use the API: roles, jurisdictions, API tokens", run: runUser})
	verbSummaries["user add"] = "add a person: NAME --role viewer|inspector|case-handler|admin [--jurisdiction 上海市/杨浦区]"
	verbSummaries["user list"] = "list people"
	verbSummaries["user token"] = "make an API token for a person (shown once)"
	verbSummaries["user tokens"] = "list API tokens (never their secrets)"
	verbSummaries["user revoke"] = "revoke an API token by its id"
	verbSummaries["user password"] = "set a person's password for the console login, read from standard input"
	verbSummaries["user disable"] = "disable a person: their tokens stop working"
	verbSummaries["user enable"] = "enable a disabled person again"
}

// people is what the user commands need: the database, or the API of the
// server that owns it.
type people interface {
	AddUser(ctx context.Context, u *db.User) error
	ListUsers(ctx context.Context) ([]db.User, error)
	SetUserDisabled(ctx context.Context, name string, disabled bool) error
	AddToken(ctx context.Context, user, label string, ttl time.Duration) (string, *db.Token, error)
	ListTokens(ctx context.Context, user string) ([]db.Token, error)
	RevokeToken(ctx context.Context, id string) error
	SetPassword(ctx context.Context, name, password string) error
}

// people returns the server's API when one runs, else the database.
func (a *app) people(ctx context.Context, readOnly bool) (people, error) {
	c, l, err := a.dataAPI(ctx, readOnly)
	if c != nil || err != nil {
		return c, err
	}
	return l, nil
}

// dataAPI returns the client of the server that owns the database when
// one runs, else the database itself with the caller named in the audit
// log (localData).
func (a *app) dataAPI(ctx context.Context, readOnly bool) (*server.Client, localData, error) {
	c, err := a.serverClient(ctx)
	if err != nil || c != nil {
		return c, localData{}, err
	}
	d, err := a.openDBMode(readOnly)
	if err != nil {
		return nil, localData{}, err
	}
	return nil, localData{d: d, actor: a.actor()}, nil
}

// localData is the database, with the caller named in the audit log: the
// people and tasks of the commands that run without a server.
type localData struct {
	d     *db.DB
	actor string
}

func (l localData) ctx(ctx context.Context) context.Context { return db.WithActor(ctx, l.actor) }

func (l localData) AddUser(ctx context.Context, u *db.User) error {
	return l.d.AddUser(l.ctx(ctx), u)
}

func (l localData) ListUsers(ctx context.Context) ([]db.User, error) { return l.d.ListUsers(ctx) }

func (l localData) SetUserDisabled(ctx context.Context, name string, disabled bool) error {
	return l.d.SetUserDisabled(l.ctx(ctx), name, disabled)
}

func (l localData) AddToken(ctx context.Context, user, label string, ttl time.Duration) (string, *db.Token, error) {
	return l.d.AddToken(l.ctx(ctx), user, label, ttl)
}

func (l localData) ListTokens(ctx context.Context, user string) ([]db.Token, error) {
	return l.d.ListTokens(ctx, user)
}

func (l localData) RevokeToken(ctx context.Context, id string) error {
	return l.d.RevokeToken(l.ctx(ctx), id)
}

func (l localData) SetPassword(ctx context.Context, name, password string) error {
	hash, err := server.HashPassword(password)
	if err != nil {
		return err
	}
	return l.d.SetPasswordHash(l.ctx(ctx), name, hash)
}

func runUser(ctx context.Context, a *app, args []string) error {
	return subcommands(ctx, a, "user", args, map[string]func(context.Context, *app, []string) error{
		"add":      userAdd,
		"list":     userList,
		"token":    userToken,
		"tokens":   userTokens,
		"revoke":   userRevoke,
		"password": userPassword,
		"disable":  func(ctx context.Context, a *app, args []string) error { return userDisable(ctx, a, args, true) },
		"enable":   func(ctx context.Context, a *app, args []string) error { return userDisable(ctx, a, args, false) },
	})
}

// peopleError makes refused input a usage error.
func peopleError(err error) error {
	if errors.Is(err, db.ErrInvalid) || errors.Is(err, db.ErrUserExists) || errors.Is(err, db.ErrNotFound) {
		return usagef("%v", err)
	}
	return err
}

func userAdd(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("user add", "user add NAME --role viewer|inspector|case-handler|admin [--jurisdiction J]")
	role := fs.String("role", "", "viewer, inspector, case-handler or admin")
	jur := fs.String("jurisdiction", "", "the area the person works for (上海市/杨浦区); they see it and the areas below it; empty: every area")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	r, err := db.ParseRole(*role)
	if err != nil {
		return usagef("%v", err)
	}
	p, err := a.people(ctx, false)
	if err != nil {
		return err
	}
	u := &db.User{Name: pos[0], Role: r, Jurisdiction: *jur}
	if err := p.AddUser(ctx, u); err != nil {
		return peopleError(err)
	}
	fmt.Fprintf(a.stdout, "%s added: %s of %s\n", u.Name, u.Role, jurisdictionText(u.Jurisdiction))
	return nil
}

func jurisdictionText(j string) string {
	if j == "" {
		return "every area"
	}
	return j
}

func userList(ctx context.Context, a *app, args []string) error {
	return listing(a, "user list", args, nil,
		func() (people, error) { return a.people(ctx, true) },
		func(p people) ([]db.User, error) { return p.ListUsers(ctx) },
		func(w io.Writer, us []db.User) {
			fmt.Fprintf(w, "NAME\tROLE\tJURISDICTION\t%s\tSTATE\n", a.timeHeader("ADDED"))
			for _, u := range us {
				state := "active"
				if u.Disabled {
					state = "disabled"
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, jurisdictionText(u.Jurisdiction), a.localTime(u.Created), state)
			}
		})
}

func userToken(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("user token", "user token NAME [--ttl 720h] [--label TEXT]")
	ttl := fs.Duration("ttl", 30*24*time.Hour, fmt.Sprintf("how long the token works (at most %s)", server.MaxTokenTTL))
	label := fs.String("label", "", "what the token is for (a laptop, a script)")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if *ttl <= 0 || *ttl > server.MaxTokenTTL {
		return usagef("--ttl %s: between 1s and %s", *ttl, server.MaxTokenTTL)
	}
	p, err := a.people(ctx, false)
	if err != nil {
		return err
	}
	secret, t, err := p.AddToken(ctx, pos[0], *label, *ttl)
	if err != nil {
		return peopleError(err)
	}
	fmt.Fprintln(a.stdout, secret)
	fmt.Fprintf(a.stderr, "token %s of %s, valid until %s: the secret above is shown this once (only its hash is kept); send it as \"Authorization: Bearer <token>\"\n",
		t.ID, t.User, a.localTime(t.Expires))
	return nil
}

func userTokens(ctx context.Context, a *app, args []string) error {
	var user string
	return listing(a, "user tokens", args,
		func(fs *flag.FlagSet) { fs.StringVar(&user, "user", "", "only this person's tokens") },
		func() (people, error) { return a.people(ctx, true) },
		func(p people) ([]db.Token, error) { return p.ListTokens(ctx, user) },
		func(w io.Writer, ts []db.Token) {
			fmt.Fprintf(w, "ID\tUSER\tLABEL\t%s\t%s\n", a.timeHeader("CREATED"), a.timeHeader("EXPIRES"))
			for _, t := range ts {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, cell(t.Label), a.localTime(t.Created), a.localTime(t.Expires))
			}
		})
}

func userRevoke(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("user revoke", "user revoke TOKEN-ID")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	p, err := a.people(ctx, false)
	if err != nil {
		return err
	}
	if err := p.RevokeToken(ctx, pos[0]); err != nil {
		return peopleError(err)
	}
	fmt.Fprintf(a.stdout, "token %s revoked\n", pos[0])
	return nil
}

func userDisable(ctx context.Context, a *app, args []string, disable bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disable]
	fs := a.newFlags("user "+verb, "user "+verb+" NAME")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	p, err := a.people(ctx, false)
	if err != nil {
		return err
	}
	if err := p.SetUserDisabled(ctx, pos[0], disable); err != nil {
		return peopleError(err)
	}
	fmt.Fprintf(a.stdout, "%s %sd\n", pos[0], verb)
	return nil
}

// userPassword sets a person's password from the first line of standard
// input (never from the command line, where other users could read it).
func userPassword(ctx context.Context, a *app, args []string) error {
	fs := a.newFlags("user password", "user password NAME < password-file")
	pos, err := parseArgs(fs, args, 1, 1)
	if err != nil {
		return err
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return usagef("user password reads the password from standard input; it was empty")
	}
	p, err := a.people(ctx, false)
	if err != nil {
		return err
	}
	if err := p.SetPassword(ctx, pos[0], password); err != nil {
		return peopleError(err)
	}
	fmt.Fprintf(a.stdout, "password of %s set\n", pos[0])
	return nil
}
