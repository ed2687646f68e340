package rules

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"shopwatch"
)

// Quality bars of the labelled corpus (testdata/corpus/README.md).
const (
	minRecall = 0.95
	maxFPRate = 0.03
)

// corpusLine is one labelled sentence.
type corpusLine struct {
	src      string // file:line
	want     []string
	kind     shopwatch.Kind
	category string
	text     string
}

func readCorpus(t *testing.T) []corpusLine {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "*.tsv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	var out []corpusLine
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			fields := strings.Split(line, "\t")
			if len(fields) != 3 {
				t.Fatalf("%s:%d: want 3 tab-separated fields, got %d", name, n, len(fields))
			}
			kind, cat, _ := strings.Cut(fields[1], "/")
			cl := corpusLine{src: fmt.Sprintf("%s:%d", name, n), kind: shopwatch.Kind(kind), category: cat,
				text: strings.ReplaceAll(fields[2], `\n`, "\n")}
			if fields[0] != "ok" {
				cl.want = strings.Split(fields[0], ",")
			}
			out = append(out, cl)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// areaOf names a rule's legal area: its rule file.
func areaOf(r Rule) string {
	file, _, _ := strings.Cut(r.Source, ":")
	return strings.TrimSuffix(path.Base(filepath.ToSlash(file)), ".yaml")
}

type areaScore struct{ tp, fn, fp int }

func (s areaScore) precision() float64 {
	if s.tp+s.fp == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fp)
}

func (s areaScore) recall() float64 {
	if s.tp+s.fn == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fn)
}

// TestCorpus measures the built-in rules on the labelled corpus: per legal
// area, precision and recall over (sentence, rule) pairs; overall, the
// false-positive rate, the share of compliant sentences on which a rule of
// severity violation fires. It fails below minRecall in any area or above
// maxFPRate, and lists every miss and false alarm.
func TestCorpus(t *testing.T) {
	rs := builtin(t)
	lines := readCorpus(t)
	if len(lines) < 300 {
		t.Errorf("corpus has %d sentences, want at least 300", len(lines))
	}
	area := map[string]string{}
	for _, r := range rs.Rules() {
		area[r.ID] = areaOf(r)
	}
	scores := map[string]*areaScore{}
	score := func(a string) *areaScore {
		if scores[a] == nil {
			scores[a] = &areaScore{}
		}
		return scores[a]
	}
	compliant, fpViolations := 0, 0
	for _, cl := range lines {
		for _, w := range cl.want {
			if area[w] == "" {
				t.Errorf("%s: unknown rule %q", cl.src, w)
			}
		}
		fs := check(t, rs, Input{URL: cl.src, Kind: cl.kind, Category: cl.category, Text: cl.text})
		var got []string
		violation := false
		for _, f := range fs {
			if !slices.Contains(got, f.Rule) {
				got = append(got, f.Rule)
			}
			violation = violation || f.Severity == shopwatch.SeverityViolation
		}
		for _, w := range cl.want {
			if slices.Contains(got, w) {
				score(area[w]).tp++
			} else {
				score(area[w]).fn++
				t.Logf("miss %s: %s on %q (got %v)", cl.src, w, cl.text, got)
			}
		}
		for _, g := range got {
			if !slices.Contains(cl.want, g) {
				score(area[g]).fp++
				t.Logf("false alarm %s: %s on %q", cl.src, g, cl.text)
			}
		}
		if cl.want == nil {
			compliant++
			if violation {
				fpViolations++
			}
		}
	}
	var names []string
	for a := range scores {
		names = append(names, a)
	}
	slices.Sort(names)
	var report strings.Builder
	fmt.Fprintf(&report, "%-14s %5s %5s %5s %9s %7s\n", "area", "tp", "fn", "fp", "precision", "recall")
	for _, a := range names {
		s := scores[a]
		fmt.Fprintf(&report, "%-14s %5d %5d %5d %9.3f %7.3f\n", a, s.tp, s.fn, s.fp, s.precision(), s.recall())
		if s.recall() < minRecall {
			t.Errorf("area %s: recall %.3f, want at least %.2f", a, s.recall(), minRecall)
		}
	}
	rate := float64(fpViolations) / float64(max(compliant, 1))
	fmt.Fprintf(&report, "%d sentences, %d compliant; violation on a compliant sentence: %d (rate %.3f)\n",
		len(lines), compliant, fpViolations, rate)
	t.Log("\n" + report.String())
	if rate > maxFPRate {
		t.Errorf("false-positive rate %.3f, want at most %.2f", rate, maxFPRate)
	}
}
