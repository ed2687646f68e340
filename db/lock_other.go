//go:build !unix

package db

import (
	"errors"
	"os"
	"time"
)

var errLockTimeout = errors.New("lock timeout")

// lockFile leaves locking to bbolt on systems without flock: the file is
// then checked before another process may have locked it.
func lockFile(*os.File, bool, time.Duration) error { return nil }

// mapFile is not available here: files are read with ReadAt.
func mapFile(*os.File, int64) ([]byte, func(), error) {
	return nil, nil, errors.New("no memory maps")
}
