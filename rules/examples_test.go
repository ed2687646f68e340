package rules

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"shopwatch"
)

// TestRuleExamples runs every built-in rule's own positive and negative
// examples, one subtest per example, so a failing example shows up by rule
// and file:line in go test output as well as at load time.
func TestRuleExamples(t *testing.T) {
	rs := builtin(t)
	results := rs.RunExamples()
	byRule := map[string][]ExampleResult{}
	for _, r := range results {
		byRule[r.Rule] = append(byRule[r.Rule], r)
	}
	for _, r := range rs.Rules() {
		t.Run(r.ID, func(t *testing.T) {
			if len(r.Examples.Positive) == 0 || len(r.Examples.Negative) == 0 {
				t.Fatalf("%s: rule needs positive and negative examples", r.Source)
			}
			if got, want := len(byRule[r.ID]), len(r.Examples.Positive)+len(r.Examples.Negative); got != want {
				t.Errorf("%d results for %d examples", got, want)
			}
			for _, res := range byRule[r.ID] {
				if res.Problem != "" {
					t.Errorf("%s: %s", res.Example.Source, res.Problem)
				}
			}
		})
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/pages")

// goldenFinding is what a golden file records of a finding.
type goldenFinding struct {
	Rule     string             `json:"rule"`
	Severity shopwatch.Severity `json:"severity"`
	Match    string             `json:"match"`
	Offset   int                `json:"offset"`
	Snippet  string             `json:"snippet"`
}

// TestGoldenPages checks whole pages: testdata/pages/NAME.txt holds a
// header ("kind: …", "category: …"), a line "---" and the page text;
// NAME.golden holds the expected findings, one JSON object a line.
// Run with -update to rewrite the golden files after a deliberate change,
// and review the diff.
func TestGoldenPages(t *testing.T) {
	rs := builtin(t)
	pages, err := filepath.Glob(filepath.Join("testdata", "pages", "*.txt"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no golden pages: %v", err)
	}
	for _, page := range pages {
		name := strings.TrimSuffix(filepath.Base(page), ".txt")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			head, text, ok := strings.Cut(string(raw), "\n---\n")
			if !ok {
				t.Fatalf("%s: no --- line", page)
			}
			in := Input{URL: "file:" + name, Text: text}
			for _, line := range strings.Split(head, "\n") {
				k, v, _ := strings.Cut(line, ":")
				switch strings.TrimSpace(k) {
				case "kind":
					in.Kind = shopwatch.Kind(strings.TrimSpace(v))
				case "category":
					in.Category = strings.TrimSpace(v)
				}
			}
			var got bytes.Buffer
			for _, f := range check(t, rs, in) {
				b, _ := json.Marshal(goldenFinding{f.Rule, f.Severity, f.Match, f.Offset, f.Snippet})
				got.Write(b)
				got.WriteByte('\n')
			}
			golden := strings.TrimSuffix(page, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("%s: findings differ from %s\ngot:\n%s\nwant:\n%s", page, golden, got.Bytes(), want)
			}
		})
	}
}
