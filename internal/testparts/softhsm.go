package testparts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// SoftHSMModules are the places Debian's softhsm2 package puts the
// SoftHSM2 PKCS#11 module.
var SoftHSMModules = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
}

// SoftHSM is a SoftHSM2 token owned by one test: its own configuration
// and token folder under the test's temporary folder, a token initialized
// with softhsm2-util, and SOFTHSM2_CONF pointing at it for the rest of the
// test (so the test cannot run in parallel with others).
type SoftHSM struct {
	Module     string // path of the PKCS#11 module
	Conf       string // the SOFTHSM2_CONF file
	TokenLabel string
	PIN        string // user PIN
	SOPIN      string // security officer PIN
	util       string
}

// StartSoftHSM finds Debian's SoftHSM2 and initializes a token labelled
// label in a configuration of the test's own, or ends the test when
// SoftHSM2 is not installed.
func StartSoftHSM(tb testing.TB, label string) *SoftHSM {
	tb.Helper()
	var module string
	for _, p := range SoftHSMModules {
		if _, err := os.Stat(p); err == nil {
			module = p
			break
		}
	}
	if module == "" {
		Unavailable(tb, "SoftHSM2 PKCS#11 module", fmt.Errorf("none of %v exists", SoftHSMModules))
		return nil
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		Unavailable(tb, "softhsm2-util", err)
		return nil
	}
	dir := tb.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		tb.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	cfg := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("SOFTHSM2_CONF", conf)
	h := &SoftHSM{Module: module, Conf: conf, TokenLabel: label, PIN: "1234-test-pin", SOPIN: "5678-test-so-pin", util: util}
	h.InitToken(tb, label)
	return h
}

// InitToken initializes one more token labelled label in the test's
// SoftHSM2, with the same PINs.
func (h *SoftHSM) InitToken(tb testing.TB, label string) {
	tb.Helper()
	cmd := exec.Command(h.util, "--init-token", "--free", "--label", label, "--pin", h.PIN, "--so-pin", h.SOPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+h.Conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("softhsm2-util --init-token %q: %v\n%s", label, err, out)
	}
}
