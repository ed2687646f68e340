package sweep

import (
	"encoding/json"
	"testing"
	"time"
)

// A summary's JSON gives its duration in seconds and keeps every other
// field.
func TestSummaryJSON(t *testing.T) {
	b, err := json.Marshal(&Summary{Sweep: "s-1", Done: 3, FailedTargets: 1, Elapsed: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["elapsed_seconds"] != 1.5 || m["failed_targets"] != 1.0 || m["sweep"] != "s-1" {
		t.Errorf("summary JSON %s", b)
	}
	if _, ok := m["elapsed"]; ok {
		t.Errorf("summary JSON has a duration in nanoseconds: %s", b)
	}
}
