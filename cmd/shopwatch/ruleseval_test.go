package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// evalCases is a labelled file whose figures are worked out by hand:
// to find, cases 1, 2, 3, 7 and 8 (found all but case 2); fired, one rule
// on cases 1, 3, 4 and 7 and two on case 8, of which case 4's and case 8's
// ad.absolute-term are wrong; compliant, cases 4, 5, 6 and 9, with a
// violation on case 4 (最香). Case 9's missing licences do not count: the
// text is a phrase, not a page.
const evalCases = "source\tlabel\tcategory\ttext\tkind\tsplit\n" +
	"case 1\tviolation\tfood\t全网最佳口碑\t\tdev\n" +
	"case 2\tviolation\tfood\t东北大米 香甜软糯\t\ttest\n" +
	"case 3\tad.medical-claim-food\t食品\t坚持食用可治疗糖尿病\tproduct\ttest\n" +
	"case 4\tok\tfood\t老顾客都知道，第一锅出的最香\t\ttest\n" +
	"case 5\tcompliant\tapparel\t第一次使用请先阅读说明书\t\tdev\n" +
	"case 6\tok\tfood\t最佳赏味期：12个月\t\ttest\n" +
	"case 7\treview\tfood\t好评率高达99.8%\t\ttest\n" +
	"case 8\tad.medical-claim-food\tfood\t全网最佳口碑，可治疗糖尿病\t\tdev\n" +
	"case 9\tok\tfood\t欢迎光临本店\tstorefront\ttest\n"

func writeTemp(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type evalScore struct {
	Name                 string
	Cases, Found         int
	ToFind               int `json:"to_find"`
	Fired, Correct       int
	Compliant            int
	ViolationOnCompliant int      `json:"violation_on_compliant"`
	Recall               *float64 `json:"recall"`
	Precision            *float64 `json:"precision"`
	ViolationRate        *float64 `json:"violation_rate"`
}

type evalOut struct {
	Overall        evalScore
	Groups         []evalScore
	Misses         []struct{ Source, Label string }
	FalsePositives []struct {
		Source     string
		Unexpected []string
		Columns    []struct{ Name, Value string }
	} `json:"false_positives"`
}

func evalJSON(t *testing.T, args ...string) evalOut {
	t.Helper()
	var out evalOut
	raw := mustSW(t, append([]string{"rules", "eval", "--json"}, args...)...)
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return out
}

func ratioIs(p *float64, want float64) bool { return p != nil && math.Abs(*p-want) < 1e-9 }

func TestRulesEvalByHand(t *testing.T) {
	file := writeTemp(t, "cases.tsv", evalCases)
	out := evalJSON(t, file)
	o := out.Overall
	if o.Cases != 9 || o.ToFind != 5 || o.Found != 4 || o.Fired != 6 || o.Correct != 4 || o.Compliant != 4 || o.ViolationOnCompliant != 1 {
		t.Errorf("overall %+v", o)
	}
	if !ratioIs(o.Recall, 0.8) || !ratioIs(o.Precision, 4.0/6) || !ratioIs(o.ViolationRate, 0.25) {
		t.Errorf("recall %v, precision %v, violation on compliant %v; want 0.8, 4/6, 0.25", *o.Recall, *o.Precision, *o.ViolationRate)
	}
	if len(out.Groups) != 2 || out.Groups[0].Name != "apparel" || out.Groups[0].Recall != nil || !ratioIs(out.Groups[1].ViolationRate, 1.0/3) {
		t.Errorf("groups %+v", out.Groups)
	}
	if len(out.Misses) != 1 || out.Misses[0].Source != file+":3" {
		t.Errorf("misses %+v", out.Misses)
	}
	if fp := out.FalsePositives; len(fp) != 2 || fp[0].Source != file+":5" || fp[1].Unexpected[0] != "ad.absolute-term" || fp[0].Columns[0].Value != "case 4" {
		t.Errorf("false positives %+v", fp)
	}

	// The test split: cases 2, 3, 4, 6, 7 and 9.
	out = evalJSON(t, file, "--split", "test", "--by", "rule")
	if o := out.Overall; o.Cases != 6 || !ratioIs(o.Recall, 2.0/3) || !ratioIs(o.Precision, 2.0/3) || !ratioIs(o.ViolationRate, 1.0/3) {
		t.Errorf("test split: %+v", o)
	}
	if g := out.Groups[0]; g.Name != "(any rule)" || g.ToFind != 2 || g.Found != 1 {
		t.Errorf("by rule: %+v", out.Groups)
	}

	text := mustSW(t, "rules", "eval", file, "--misses", "1")
	for _, want := range []string{"9 cases (5 to find, 4 compliant)", "overall", "0.800 (4/5)", "0.667 (4/6)", "0.250 (1/4)",
		"misses (1):", "东北大米", "false positives (2):", "ad.absolute-term “最香” violation", "source=case 4", "and 1 more"} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks %q:\n%s", want, text)
		}
	}
}

func TestRulesEvalCorpusFormat(t *testing.T) {
	file := writeTemp(t, "corpus.tsv", "# 广告法第九条\n"+
		"ad.absolute-term\tproduct/food\t全网最佳口碑\n"+
		"ok\tproduct/food\t最佳赏味期：12个月\n"+
		"licence.business-info-missing,licence.icp-missing\tstorefront/apparel\t欢迎光临本店 全场包邮\n")
	o := evalJSON(t, file).Overall
	if o.Cases != 3 || o.ToFind != 3 || o.Found != 3 || o.Fired != 3 || o.Correct != 3 || o.Compliant != 1 || o.ViolationOnCompliant != 0 {
		t.Errorf("corpus-format file: %+v", o)
	}
	// The project's own corpus reads.
	corpus, _ := filepath.Glob(filepath.Join("..", "..", "rules", "testdata", "corpus", "*.tsv"))
	if len(corpus) == 0 {
		t.Fatal("no corpus files")
	}
	for _, f := range corpus {
		if o := evalJSON(t, f).Overall; o.Cases == 0 {
			t.Errorf("%s: no cases", f)
		}
	}
}

func TestRulesEvalRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"no label column", "text\tcategory\n最佳\tfood\n", []string{":1: no label column"}},
		{"other columns", "content\tclass\tcategory\n最佳\tviolation\tfood\n", []string{":1: no header row naming the columns text and label"}},
		{"bad rows", "label\ttext\tcategory\tkind\n" +
			"violation\t最佳\tfood\tproduct\n" +
			"violation\t最佳\tfood\n" +
			"violatoin\t最佳\tfood\tproduct\n" +
			"ok\t最佳\tfoood\tproduct\n" +
			"ok\t最佳\tfood\twarehouse\n",
			[]string{":3: want 4 tab-separated cells", `:4: unknown label or rule id "violatoin"`, `:5: unknown category "foood"`, `:6: unknown page kind "warehouse"`}},
		{"bad corpus rows", "ad.absolute-term\tproduct/food\t最佳\nad.absolute-term\t最佳\nad.nope\tproduct/food\t最佳\n",
			[]string{":2: want 3 tab-separated cells", `:3: unknown label or rule id "ad.nope"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeTemp(t, "bad.tsv", tc.text)
			o, e, code := sw(t, "rules", "eval", file)
			if code != exitUsage {
				t.Errorf("exit %d, want %d\n%s%s", code, exitUsage, o, e)
			}
			for _, w := range tc.want {
				if !strings.Contains(e, file+w) {
					t.Errorf("stderr lacks %q:\n%s", file+w, e)
				}
			}
		})
	}
	noSplit := writeTemp(t, "nosplit.tsv", "label\ttext\nok\t你好\n")
	for _, args := range [][]string{{noSplit, "--split", "test"}, {noSplit, "--split", "tset"}, {noSplit, "--by", "area"}, {}, {noSplit, "--misses", "-1"}} {
		if _, e, code := sw(t, append([]string{"rules", "eval"}, args...)...); code != exitUsage {
			t.Errorf("rules eval %v: exit %d, want %d\n%s", args, code, exitUsage, e)
		}
	}
	if _, e, code := sw(t, "rules", "eval", filepath.Join(t.TempDir(), "missing.tsv")); code != exitRuntime {
		t.Errorf("missing file: exit %d, want %d\n%s", code, exitRuntime, e)
	}
}

func TestRulesExplain(t *testing.T) {
	out := mustSW(t, "rules", "explain", "第一次购买，最 佳口碑，ＮＯ．１", "--category", "food")
	for _, want := range []string{
		`normalised: "第一次购买最佳口碑,no.1"`,
		`  21    " "           ""       removed: white space or punctuation between CJK characters`,
		`"，ＮＯ．１"  ",no.1"  full-width form, lower case`,
		"pattern 第一", "exception 第一次",
		"最 佳", "pattern 最佳", "finding",
		"findings (2):", "violation ad.absolute-term “最 佳”", "《中华人民共和国广告法》 第九条第三项", "定性：违法",
		"ad.medical-claim-cosmetics", "applies only to categories cosmetics, not food",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}

	stdin = strings.NewReader("國家級品質")
	defer func() { stdin = os.Stdin }()
	var tr struct {
		Category   string
		Normalised string
		Folds      []struct{ Original, Normal, Why string }
		Candidates []struct{ Rule, Match, Outcome, Exception string }
		Findings   []struct{ Rule, Match, Severity, Law string }
	}
	raw := mustSW(t, "rules", "explain", "-", "--json")
	if err := json.Unmarshal([]byte(raw), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Normalised != "国家级品质\n" && tr.Normalised != "国家级品质" {
		t.Errorf("normalised %q", tr.Normalised)
	}
	if len(tr.Folds) == 0 || tr.Folds[0].Original != "國" || tr.Folds[0].Why != "traditional → simplified" {
		t.Errorf("folds %+v", tr.Folds)
	}
	if len(tr.Findings) != 1 || tr.Findings[0].Match != "國家級" || tr.Findings[0].Severity != "violation" || tr.Findings[0].Law == "" {
		t.Errorf("findings %+v", tr.Findings)
	}
	if _, _, code := sw(t, "rules", "explain"); code != exitUsage {
		t.Errorf("explain without text: exit %d", code)
	}
	if _, _, code := sw(t, "rules", "explain", "最佳", "--category", "foood"); code != exitUsage {
		t.Errorf("explain with an unknown category: exit %d", code)
	}
}
