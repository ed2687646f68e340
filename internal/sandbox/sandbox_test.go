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

func TestOptionsAsRootWithoutAccount(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root hands Chromium to another account")
	}
	t.Setenv(UserEnv, "shopwatch-no-such-account-xyz")
	if _, err := Options(t.TempDir()); !errors.Is(err, ErrNoUser) {
		t.Errorf("Options as root without an account: %v, want ErrNoUser (never --no-sandbox)", err)
	}
}
