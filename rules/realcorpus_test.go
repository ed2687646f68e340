package rules

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The real-case corpus (testdata/corpus/real/README.md): phrases quoted
// from published penalty decisions and typical-case releases, and real
// compliant text, each row with its provenance.

// realColumns are the columns every file of the real corpus has, in order.
var realColumns = []string{"id", "text", "label", "area", "category", "kind", "article", "source", "source_url", "date", "case", "derived", "split"}

// realAreas are the areas the corpus reports on.
var realAreas = []string{"general", "food", "healthfood", "cosmetics", "drug", "device", "medical-service", "education", "finance", "real-estate", "livestream"}

// realSplit is the side of the dev/test split a source case is on: test
// for 30 % of cases by the first bytes of the SHA-256 of its id, so that
// every row of a case lands on the same side and the split never moves.
func realSplit(caseID string) string {
	h := sha256.Sum256([]byte(caseID))
	if (uint16(h[0])<<8|uint16(h[1]))%10 < 3 {
		return "test"
	}
	return "dev"
}

func readRealCorpus(t *testing.T, rs *RuleSet) []Case {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "corpus", "real", "*.tsv"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no real corpus files: %v", err)
	}
	var out []Case
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		head, _, _ := strings.Cut(string(b), "\n")
		if got := strings.Split(strings.TrimRight(head, "\r"), "\t"); !slices.Equal(got, realColumns) {
			t.Fatalf("%s: header %q, want %q", name, got, realColumns)
		}
		cases, err := ReadCases(strings.NewReader(string(b)), name, rs)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, cases...)
	}
	return out
}

func column(c Case, name string) string {
	for _, col := range c.Columns {
		if col.Name == name {
			return col.Value
		}
	}
	return ""
}

// TestRealCorpusRows holds every row to the corpus's rules: provenance
// given, ids and texts unique, areas known, the split the case's.
func TestRealCorpusRows(t *testing.T) {
	rs := builtin(t)
	cases := readRealCorpus(t, rs)
	ids := map[string]string{}
	texts := map[string]string{}
	for _, c := range cases {
		id := column(c, "id")
		if prev, ok := ids[id]; ok || id == "" {
			t.Errorf("%s: id %q (also %s)", c.Source, id, prev)
		}
		ids[id] = c.Source
		key := string(c.Class) + "\x00" + c.Text
		if prev, ok := texts[key]; ok {
			t.Errorf("%s: the same text and label as %s: %q", c.Source, prev, c.Text)
		}
		texts[key] = c.Source
		for _, name := range []string{"source", "source_url", "case"} {
			if column(c, name) == "" {
				t.Errorf("%s: no %s", c.Source, name)
			}
		}
		if u := column(c, "source_url"); !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "internal/testparts/") {
			t.Errorf("%s: source_url %q is not an address", c.Source, u)
		}
		if a := column(c, "area"); !slices.Contains(realAreas, a) {
			t.Errorf("%s: area %q, want one of %v", c.Source, a, realAreas)
		}
		if d := column(c, "derived"); d != "0" && d != "1" {
			t.Errorf("%s: derived %q, want 0 or 1", c.Source, d)
		}
		if want := realSplit(column(c, "case")); c.Split != want {
			t.Errorf("%s: split %q, but case %q is on the %s side", c.Source, c.Split, column(c, "case"), want)
		}
		if c.Class != ClassViolation && c.Class != ClassCompliant {
			t.Errorf("%s: label %q, want violation or ok", c.Source, c.Label)
		}
	}
}

// TestRealCorpus measures the built-in rules on the real corpus, on each
// side of the split, overall and per area: recall (a penalised phrase
// draws any finding) and the share of compliant texts on which a rule of
// severity violation fires. The rules are tuned on dev only; test is the
// figure the README reports. It fails when a side's figures fall below
// the floors measured when the corpus was added (a regression), and logs
// every miss and false alarm of dev.
func TestRealCorpus(t *testing.T) {
	rs := builtin(t)
	cases := readRealCorpus(t, rs)
	floors := map[string]struct{ recall, violationRate, leadRate float64 }{
		"dev":  {realFloorDevRecall, realCeilDevViolation, realCeilDevLeads},
		"test": {realFloorTestRecall, realCeilTestViolation, realCeilTestLeads},
	}
	for _, side := range []string{"dev", "test"} {
		var part []Case
		for _, c := range cases {
			if c.Split == side && column(c, "derived") == "0" {
				part = append(part, c)
			}
		}
		ev := Evaluate(rs, part)
		byArea := map[string]*Score{}
		for _, r := range ev.Cases {
			a := column(r.Case, "area")
			if byArea[a] == nil {
				byArea[a] = &Score{}
			}
			byArea[a].add(&r)
			if side == "dev" && r.Case.Class == ClassViolation && len(r.Got) == 0 {
				t.Logf("miss %s [%s]: %q", r.Source, a, r.Text)
			}
			if side == "dev" && r.ViolationOnCompliant {
				t.Logf("false alarm %s: %v on %q", r.Source, r.Got, r.Text)
			}
		}
		var report strings.Builder
		fmt.Fprintf(&report, "%s split\n%-16s %6s %6s %7s %9s %9s\n", side, "area", "viol.", "comp.", "recall", "viol/ok", "precision")
		areas := make([]string, 0, len(byArea))
		for a := range byArea {
			areas = append(areas, a)
		}
		sort.Strings(areas)
		line := func(name string, s Score) {
			r, _ := s.Recall()
			v, _ := s.ViolationRate()
			p, _ := s.Precision()
			fmt.Fprintf(&report, "%-16s %6d %6d %7.3f %9.3f %9.3f\n", name, s.ToFind, s.Compliant, r, v, p)
		}
		for _, a := range areas {
			line(a, *byArea[a])
		}
		all := ev.Overall()
		line("all", all)
		t.Log("\n" + report.String())
		f := floors[side]
		if r, ok := all.Recall(); ok && r < f.recall {
			t.Errorf("%s split: recall %.3f, below the floor %.3f", side, r, f.recall)
		}
		if v, ok := all.ViolationRate(); ok && v > f.violationRate {
			t.Errorf("%s split: violation on compliant %.3f, above the ceiling %.3f", side, v, f.violationRate)
		}
		// Any finding on compliant text, leads for review included: what
		// an inspector reads for nothing.
		if all.Compliant > 0 {
			if l := float64(all.Fired-all.Correct) / float64(all.Compliant); l > f.leadRate {
				t.Errorf("%s split: a finding of any severity on %.3f of compliant texts, above the ceiling %.3f", side, l, f.leadRate)
			}
		}
	}
}

// Floors of the real corpus's figures, just under those last measured
// (recall, violation on compliant text and any finding on compliant text:
// dev 0.857, 0.001 and 0.012, test 0.548, 0.007 and 0.043): a change that
// lowers recall or raises violations or leads on compliant text fails.
// The -h files moved them: their penalised rows are harder (old drug,
// device and cosmetics notices), and their compliant rows are approved
// health-food functions under names the catalogue has since changed,
// which ad.health-food-function-wording sends for review by design.
const (
	realFloorDevRecall    = 0.85
	realCeilDevViolation  = 0.005
	realCeilDevLeads      = 0.015
	realFloorTestRecall   = 0.54
	realCeilTestViolation = 0.01
	realCeilTestLeads     = 0.05
)

// evasions are the ways sellers dodge filters, applied to a text: a space
// between characters, full-width letters and digits, and both.
var evasions = []struct {
	name string
	f    func(string) string
}{
	{"spaced", func(s string) string {
		var b strings.Builder
		for i, r := range []rune(s) {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
		}
		return b.String()
	}},
	{"full-width", fullWidth},
	{"spaced full-width", func(s string) string {
		var b strings.Builder
		for i, r := range []rune(fullWidth(s)) {
			if i > 0 {
				b.WriteString("　")
			}
			b.WriteRune(r)
		}
		return b.String()
	}},
}

// fullWidth writes ASCII letters, digits and punctuation in their
// full-width forms.
func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r > ' ' && r < 0x7f {
			return r - 0x21 + 0xFF01
		}
		return r
	}, s)
}

// TestRealCorpusEvasions derives evasion variants from the penalised rows
// the rules find and scores them apart: a seller who spaces out or
// widens a penalised phrase must still be found. It fails when fewer than
// 95 % of a variant's rows are found.
func TestRealCorpusEvasions(t *testing.T) {
	rs := builtin(t)
	var found []Case
	for _, r := range Evaluate(rs, readRealCorpus(t, rs)).Cases {
		if r.Case.Class == ClassViolation && len(r.Got) > 0 && column(r.Case, "derived") == "0" {
			found = append(found, r.Case)
		}
	}
	for _, ev := range evasions {
		var derived []Case
		for _, c := range found {
			d := c
			d.Text = ev.f(c.Text)
			derived = append(derived, d)
		}
		res := Evaluate(rs, derived)
		all := res.Overall()
		r, _ := all.Recall()
		t.Logf("%s: %d of %d penalised phrases the rules find are still found (%.3f)", ev.name, all.Found, all.ToFind, r)
		for _, x := range res.Cases {
			if len(x.Got) == 0 {
				t.Logf("  %s lost: %q", ev.name, x.Text)
			}
		}
		if r < 0.95 {
			t.Errorf("%s: recall %.3f on phrases found in plain form, want at least 0.95", ev.name, r)
		}
	}
}
