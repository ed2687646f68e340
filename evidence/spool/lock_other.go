//go:build !unix

package spool

import "os"

// lockDir opens path; without flock the one-Store-per-folder rule is not
// enforced on this platform.
func lockDir(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
