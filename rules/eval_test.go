package rules

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

// evalFile is a labelled file whose figures are worked out by hand in
// TestEvaluateByHand.
const evalFile = "source\tlabel\tcategory\ttext\tkind\tsplit\n" +
	"case 1\tviolation\tfood\t全网最佳口碑\t\tdev\n" + // line 2: found (最佳)
	"case 2\tviolation\tfood\t东北大米 香甜软糯\t\ttest\n" + // 3: missed (a false origin, only the facts tell)
	"case 3\tad.medical-claim-food\t食品\t坚持食用可治疗糖尿病\tproduct\ttest\n" + // 4: found
	"# a comment\n" +
	"case 4\tok\tfood\t老顾客都知道，第一锅出的最香\t\ttest\n" + // 6: violation on compliant (最香)
	"case 5\tcompliant\tapparel\t第一次使用请先阅读说明书\t\tdev\n" + // 7: nothing fires
	"case 6\tOK\tfood\t最佳赏味期：12个月\t\ttest\n" + // 8: nothing fires
	"case 7\treview\tfood\t好评率高达99.8%\t\ttest\n" + // 9: found (ad.unsourced-data, review)
	"case 8\tad.medical-claim-food\tfood\t全网最佳口碑，可治疗糖尿病\t\tdev\n" + // 10: found, and ad.absolute-term unexpected
	"\n" +
	"case 9\tok\tfood\t欢迎光临本店\tstorefront\ttest\n" // 12: licence absences do not count

func readString(t *testing.T, rs *RuleSet, name, text string) []Case {
	t.Helper()
	cases, err := ReadCases(strings.NewReader(text), name, rs)
	if err != nil {
		t.Fatal(err)
	}
	return cases
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestEvaluateByHand(t *testing.T) {
	rs := builtin(t)
	cases := readString(t, rs, "eval.tsv", evalFile)
	if len(cases) != 9 {
		t.Fatalf("read %d cases, want 9", len(cases))
	}
	c := cases[2]
	if c.Source != "eval.tsv:4" || c.Class != ClassRules || !slices.Equal(c.Rules, []string{"ad.medical-claim-food"}) ||
		c.Category != "food" || c.Kind != "product" || c.Split != "test" ||
		!slices.Equal(c.Columns, []Column{{"source", "case 3"}, {"split", "test"}}) {
		t.Errorf("case 3 read as %+v", c)
	}
	if cases[8].Kind != "storefront" || cases[5].Class != ClassCompliant || cases[6].Class != ClassReview {
		t.Errorf("kinds or classes: %+v", cases)
	}
	ev := Evaluate(rs, cases)
	// To find: cases 1, 2, 3, 7, 8 (one each); found all but case 2.
	// Fired: cases 1, 3, 4, 7 one rule each, case 8 two; correct: all but
	// case 4's and case 8's ad.absolute-term. Compliant: cases 4, 5, 6, 9;
	// a violation fired on case 4.
	want := Score{Cases: 9, ToFind: 5, Found: 4, Fired: 6, Correct: 4, Compliant: 4, ViolationOnCompliant: 1}
	if got := ev.Overall(); got != want {
		t.Errorf("overall %+v, want %+v", got, want)
	}
	all := ev.Overall()
	if r, _ := all.Recall(); !near(r, 0.8) {
		t.Errorf("recall %v, want 0.8", r)
	}
	if p, _ := all.Precision(); !near(p, 4.0/6) {
		t.Errorf("precision %v, want 4/6", p)
	}
	if v, _ := all.ViolationRate(); !near(v, 0.25) {
		t.Errorf("violation on compliant %v, want 0.25", v)
	}
	r8 := ev.Cases[7]
	if !slices.Equal(r8.Got, []string{"ad.absolute-term", "ad.medical-claim-food"}) || !slices.Equal(r8.Unexpected, []string{"ad.absolute-term"}) || r8.Missed != nil {
		t.Errorf("case 8: got %v, unexpected %v, missed %v", r8.Got, r8.Unexpected, r8.Missed)
	}
	if r := ev.Cases[1]; !slices.Equal(r.Missed, []string{"violation"}) {
		t.Errorf("case 2 missed %v, want [violation]", r.Missed)
	}
	if r := ev.Cases[8]; len(r.Findings) != 0 {
		t.Errorf("case 9: absence findings counted: %+v", r.Findings)
	}
	if r := ev.Cases[3]; !r.ViolationOnCompliant || !slices.Equal(r.Unexpected, []string{"ad.absolute-term"}) {
		t.Errorf("case 4: %+v", r)
	}

	byCat := ev.ByCategory()
	wantCat := []Group{
		{"apparel", Score{Cases: 1, Compliant: 1}},
		{"food", Score{Cases: 8, ToFind: 5, Found: 4, Fired: 6, Correct: 4, Compliant: 3, ViolationOnCompliant: 1}},
	}
	if !slices.Equal(byCat, wantCat) {
		t.Errorf("by category %+v, want %+v", byCat, wantCat)
	}
	byRule := ev.ByRule(nil)
	wantRule := []Group{
		{"", Score{Cases: 3, ToFind: 3, Found: 2, Compliant: 4}},
		{"ad.absolute-term", Score{Cases: 3, Fired: 3, Correct: 1, Compliant: 4, ViolationOnCompliant: 1}},
		{"ad.medical-claim-food", Score{Cases: 2, ToFind: 2, Found: 2, Fired: 2, Correct: 2, Compliant: 4}},
		{"ad.unsourced-data", Score{Cases: 1, Fired: 1, Correct: 1, Compliant: 4}},
	}
	if !slices.Equal(byRule, wantRule) {
		t.Errorf("by rule %+v, want %+v", byRule, wantRule)
	}
	if _, ok := (Score{}).Recall(); ok {
		t.Error("recall of nothing to find is defined")
	}
}

func TestReadCasesCorpusFormat(t *testing.T) {
	rs := builtin(t)
	cases := readString(t, rs, "corpus.tsv", "\ufeff# comment\r\n"+
		"ad.absolute-term\tproduct/food\t全网最佳口碑\r\n"+
		"ok\tlivestream/\t第一行\\n第二行\r\n"+
		"licence.business-info-missing,licence.icp-missing\tstorefront/apparel\t欢迎光临本店\r\n")
	if len(cases) != 3 {
		t.Fatalf("%d cases", len(cases))
	}
	if c := cases[1]; c.Source != "corpus.tsv:3" || c.Kind != "livestream" || c.Category != "" || c.Text != "第一行\n第二行" || c.Class != ClassCompliant {
		t.Errorf("case 2: %+v", c)
	}
	ev := Evaluate(rs, cases)
	// Absence findings count when the label names their rule.
	if all := ev.Overall(); all.ToFind != 3 || all.Found != 3 || all.Fired != 3 || all.Correct != 3 {
		t.Errorf("overall %+v (cases %+v)", all, ev.Cases)
	}
}

func TestReadCasesRefusesBadInput(t *testing.T) {
	rs := builtin(t)
	for _, tc := range []struct {
		name, text string
		want       []string // each problem, in order
	}{
		{"no label column", "text\tcategory\n最佳\tfood\n",
			[]string{"x.tsv:1: no label column"}},
		{"no text column", "# cases\nlabel\tcontent\nok\t最佳\n",
			[]string{"x.tsv:2: no text column"}},
		{"other header", "content\tclass\tcategory\n最佳\tviolation\tfood\n",
			[]string{"x.tsv:1: no header row naming the columns text and label"}},
		{"twice", "text\tlabel\tText\n",
			[]string{`x.tsv:1: column "text" named twice`}},
		{"rows", "label\ttext\tcategory\tsplit\n" +
			"violation\t最佳\tfood\tdev\n" +
			"violation\t最佳\n" + // 3: too few cells
			"violatoin\t最佳\tfood\tdev\n" + // 4: unknown label
			"ad.no-such-rule,ad.absolute-term\t最佳\tfood\tdev\n" + // 5: unknown rule
			"ok\t最佳\tfoood\tdev\n" + // 6: unknown category
			"ok\t最佳\tfood\ttset\n" + // 7: unknown split
			"ok\t\tfood\tdev\n" + // 8: empty text
			"ok\t最佳\tfood\tdev\textra\n" + // 9: too many cells
			"ok\t\xb7\xee\xbc\xd1\tfood\tdev\n", // 10: GBK, not UTF-8
			[]string{"x.tsv:3: want 4 tab-separated cells", `x.tsv:4: unknown label or rule id "violatoin"`,
				`x.tsv:5: unknown label or rule id "ad.no-such-rule"`, `x.tsv:6: unknown category "foood"`,
				`x.tsv:7: unknown split "tset"`, "x.tsv:8: empty text", "x.tsv:9: want 4 tab-separated cells",
				"x.tsv:10: not UTF-8"}},
		{"corpus rows", "ad.absolute-term\tproduct/food\t最佳\n" +
			"ad.absolute-term\tproduct/food\n" + // 2: two cells
			"ad.absolute-term\twarehouse/food\t最佳\n" + // 3: unknown kind
			"\tproduct/food\t最佳\n", // 4: empty label
			[]string{"x.tsv:2: want 3 tab-separated cells", `x.tsv:3: unknown page kind "warehouse"`, "x.tsv:4: empty label"}},
		{"empty", "# nothing\n\n", []string{"x.tsv: no cases"}},
		{"many", "label\ttext\n" + strings.Repeat("bad\t最佳\n", maxCaseProblems+5),
			append(slices.Repeat([]string{"x.tsv:"}, maxCaseProblems), "x.tsv: 5 more problems not listed")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCases(strings.NewReader(tc.text), "x.tsv", rs)
			var fe *CaseFileError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v, want a CaseFileError", err)
			}
			if len(fe.Problems) != len(tc.want) {
				t.Fatalf("problems:\n%v\nwant %d", err, len(tc.want))
			}
			for i, p := range fe.Problems {
				if !strings.HasPrefix(p.Error(), tc.want[i]) {
					t.Errorf("problem %d: %q, want it to start %q", i, p.Error(), tc.want[i])
				}
			}
		})
	}
}
