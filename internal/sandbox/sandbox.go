// Package sandbox starts Chromium with its sandbox on. A page that
// shopwatch renders is hostile input, and the node that renders it holds
// the evidence signing keys, so Chromium never runs with --no-sandbox.
// Chromium's sandbox refuses to start as root; when shopwatch itself runs
// as root, Chromium runs as an unprivileged account instead (User, which
// `make setup-chromium` creates), and without that account it does not
// start at all.
package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/chromedp/chromedp"
)

// User is the unprivileged account Chromium runs as when shopwatch runs
// as root.
const User = "shopwatch-chromium"

// UserEnv names the environment variable that chooses another account
// than User.
const UserEnv = "SHOPWATCH_CHROMIUM_USER"

// ErrNoUser: shopwatch runs as root and the account Chromium should run as
// does not exist or is not unprivileged.
var ErrNoUser = errors.New("no unprivileged account to run Chromium as")

// Account is the account a browser runs as.
type Account struct {
	Name     string
	Uid, Gid uint32
}

// Lookup returns the account Chromium runs as when shopwatch runs as root:
// $SHOPWATCH_CHROMIUM_USER, else User. It must exist and not be root.
func Lookup() (Account, error) {
	name := os.Getenv(UserEnv)
	if name == "" {
		name = User
	}
	u, err := user.Lookup(name)
	if err != nil {
		return Account{}, fmt.Errorf("%w: shopwatch runs as root and Chromium's sandbox cannot run as root; "+
			"create the account %q (`make setup-chromium`, or `useradd --system --no-create-home --shell /usr/sbin/nologin %s`) "+
			"or name another unprivileged one in $%s: %v", ErrNoUser, name, name, UserEnv, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return Account{}, fmt.Errorf("%w: account %q has uid %q, gid %q", ErrNoUser, name, u.Uid, u.Gid)
	}
	if uid == 0 || gid == 0 {
		return Account{}, fmt.Errorf("%w: account %q is privileged (uid %d, gid %d)", ErrNoUser, name, uid, gid)
	}
	return Account{Name: name, Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// Options returns the allocator options that start Chromium sandboxed.
// home is a folder made for this browser alone (its profile, or a folder
// above it): as an unprivileged process shopwatch starts Chromium as it
// is; as root it hands home and everything in it to the account of
// Lookup, and starts Chromium as that account, with no supplementary
// groups and with HOME and the XDG folders in home. The browser is killed
// when shopwatch dies, as chromedp does by default.
func Options(home string) ([]chromedp.ExecAllocatorOption, error) {
	// chromedp adds --no-sandbox by itself when the process runs as root,
	// unless the flag is set to false.
	keep := chromedp.Flag("no-sandbox", false)
	if os.Getuid() != 0 && os.Geteuid() != 0 {
		return []chromedp.ExecAllocatorOption{keep}, nil
	}
	acct, err := Lookup()
	if err != nil {
		return nil, err
	}
	if err := chownAll(home, acct); err != nil {
		return nil, fmt.Errorf("hand %s to %s: %w", home, acct.Name, err)
	}
	return []chromedp.ExecAllocatorOption{
		keep,
		chromedp.Env("HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
			"XDG_CACHE_HOME="+filepath.Join(home, ".cache")),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.Dir = home
			cmd.SysProcAttr = &syscall.SysProcAttr{
				Pdeathsig:  syscall.SIGKILL,
				Credential: &syscall.Credential{Uid: acct.Uid, Gid: acct.Gid, Groups: []uint32{}},
			}
		}),
	}, nil
}

// chownAll gives dir and everything under it to acct.
func chownAll(dir string, acct Account) error {
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(acct.Uid), int(acct.Gid))
	})
}
