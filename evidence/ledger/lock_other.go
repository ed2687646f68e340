//go:build !unix

package ledger

import "os"

// lockFile opens path. Where flock(2) does not exist nothing stops a second
// process from opening the log: run one writer per log.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
}
