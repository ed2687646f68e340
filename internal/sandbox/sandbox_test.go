package sandbox

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestLookupRefusesPrivilegedAndMissingAccounts(t *testing.T) {
	for name, want := range map[string]string{
		"root":                          "is privileged",
		"shopwatch-no-such-account-xyz": "make setup-chromium",
	} {
		t.Setenv(UserEnv, name)
		_, err := Lookup()
		if !errors.Is(err, ErrNoUser) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want ErrNoUser mentioning %q", name, err, want)
		}
	}
}

// Without an account to hand Chromium to, root gets no options at all
// (never --no-sandbox); any other user keeps the sandbox as itself and
// needs no account.
func TestOptionsWithoutAccount(t *testing.T) {
	t.Setenv(UserEnv, "shopwatch-no-such-account-xyz")
	opts, err := Options(t.TempDir())
	if os.Geteuid() == 0 {
		if !errors.Is(err, ErrNoUser) {
			t.Errorf("Options as root without an account: %v, want ErrNoUser (never --no-sandbox)", err)
		}
		return
	}
	if err != nil || len(opts) != 1 {
		t.Errorf("Options as uid %d: %d options, err %v; want the sandbox kept, no account needed", os.Geteuid(), len(opts), err)
	}
}
