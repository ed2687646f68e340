package main

import (
	"runtime"

	"shopwatch"
)

func versionString() string {
	return shopwatch.Version + " (" + runtime.Version() + ")"
}
