package rules

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// Quality bars of the labelled corpus (testdata/corpus/README.md).
const (
	minRecall = 0.95
	maxFPRate = 0.03
)

func readCorpus(t *testing.T, rs *RuleSet) []Case {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.tsv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	var out []Case
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		cases, err := ReadCases(f, name, rs)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cases...)
	}
	return out
}

// areaOf names a rule's legal area: its rule file.
func areaOf(r Rule) string {
	file, _, _ := strings.Cut(r.Source, ":")
	return strings.TrimSuffix(path.Base(filepath.ToSlash(file)), ".yaml")
}

// TestCorpus measures the built-in rules on the labelled corpus: per legal
// area, precision and recall over (sentence, rule) pairs; overall, the
// false-positive rate, the share of compliant sentences on which a rule of
// severity violation fires. It fails below minRecall in any area or above
// maxFPRate, and lists every miss and false alarm.
func TestCorpus(t *testing.T) {
	rs := builtin(t)
	cases := readCorpus(t, rs)
	if len(cases) < 300 {
		t.Errorf("corpus has %d sentences, want at least 300", len(cases))
	}
	area := map[string]string{}
	for _, r := range rs.Rules() {
		area[r.ID] = areaOf(r)
	}
	ev := Evaluate(rs, cases)
	for _, r := range ev.Cases {
		if len(r.Missed) > 0 {
			t.Logf("miss %s: %v on %q (got %v)", r.Source, r.Missed, r.Text, r.Got)
		}
		if len(r.Unexpected) > 0 {
			t.Logf("false alarm %s: %v on %q", r.Source, r.Unexpected, r.Text)
		}
	}
	var report strings.Builder
	fmt.Fprintf(&report, "%-14s %5s %5s %5s %9s %7s\n", "area", "tp", "fn", "fp", "precision", "recall")
	for _, g := range ev.ByRule(func(id string) string { return area[id] }) {
		p, _ := g.Precision()
		r, ok := g.Recall()
		fmt.Fprintf(&report, "%-14s %5d %5d %5d %9.3f %7.3f\n", g.Name, g.Found, g.ToFind-g.Found, g.Fired-g.Correct, p, r)
		if ok && r < minRecall {
			t.Errorf("area %s: recall %.3f, want at least %.2f", g.Name, r, minRecall)
		}
	}
	all := ev.Overall()
	rate, _ := all.ViolationRate()
	fmt.Fprintf(&report, "%d sentences, %d compliant; violation on a compliant sentence: %d (rate %.3f)\n",
		all.Cases, all.Compliant, all.ViolationOnCompliant, rate)
	t.Log("\n" + report.String())
	if rate > maxFPRate {
		t.Errorf("false-positive rate %.3f, want at most %.2f", rate, maxFPRate)
	}
}
