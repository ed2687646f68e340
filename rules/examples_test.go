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
	for _, r := range rs.Rules() {
		t.Run(r.ID, func(t *testing.T) {
			if len(r.Examples.Positive) == 0 || len(r.Examples.Negative) == 0 {
				t.Fatalf("%s: rule needs positive and negative examples", r.Source)
			}
			run := func(x Example) []shopwatch.Finding {
				in := Input{URL: "example", Kind: x.Kind, Category: x.Category, Text: x.Text}
				if in.Kind == "" && len(r.AppliesTo.Kinds) > 0 {
					in.Kind = r.AppliesTo.Kinds[0]
				}
				if in.Category == "" && len(r.AppliesTo.Categories) > 0 {
					in.Category = r.AppliesTo.Categories[0]
				}
				var out []shopwatch.Finding
				for _, f := range check(t, rs, in) {
					if f.Rule == r.ID {
						out = append(out, f)
					}
				}
				return out
			}
			for _, x := range r.Examples.Positive {
				got := run(x)
				if len(got) == 0 {
					t.Errorf("%s: positive %q raises nothing", x.Source, x.Text)
					continue
				}
				if x.Match != "" && got[0].Match != x.Match {
					t.Errorf("%s: positive %q matches %q first, want %q", x.Source, x.Text, got[0].Match, x.Match)
				}
				if r.Type == TypeRequire && got[0].Offset != -1 {
					t.Errorf("%s: absence finding at offset %d", x.Source, got[0].Offset)
				}
			}
			for _, x := range r.Examples.Negative {
				if got := run(x); len(got) > 0 {
					t.Errorf("%s: negative %q raises %q", x.Source, x.Text, got[0].Match)
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
