package rules

import (
	"slices"
	"strings"
	"testing"

	"shopwatch"
)

func findCandidate(tr *Trace, rule, match string) *Candidate {
	for i := range tr.Candidates {
		if c := &tr.Candidates[i]; c.Rule == rule && c.Match == match {
			return c
		}
	}
	return nil
}

func TestCheckTrace(t *testing.T) {
	rs := builtin(t)
	in := Input{URL: "http://127.0.0.1/t", Kind: "product", Category: "food",
		Text: "第一次购买：最 佳口碑，ＮＯ．１　國家級品質，2023年天猫销量第一"}
	fs, tr := rs.CheckTrace(in)
	if plain := rs.Check(in); !slices.EqualFunc(fs, plain, func(a, b shopwatch.Finding) bool { return a.Rule == b.Rule && a.Offset == b.Offset }) {
		t.Errorf("CheckTrace findings %v differ from Check's %v", hits(fs), hits(plain))
	}
	if !slices.EqualFunc(fs, tr.Findings, func(a, b shopwatch.Finding) bool { return a.Rule == b.Rule && a.Offset == b.Offset }) {
		t.Errorf("trace findings differ from those returned")
	}
	if tr.Normalised != "第一次购买最佳口碑,no.1 国家级品质,2023年天猫销量第一" {
		t.Errorf("normalised %q", tr.Normalised)
	}
	wantFolds := []Fold{
		{15, "：", "", "removed: white space or punctuation between CJK characters"},
		{21, " ", "", "removed: white space or punctuation between CJK characters"},
		{31, "，ＮＯ．１", ",no.1", "full-width form, lower case"},
		{46, "　", " ", "white space collapsed"},
		{49, "國", "国", "traditional → simplified"},
		{55, "級", "级", "traditional → simplified"},
		{61, "質，", "质,", "traditional → simplified, full-width form"},
	}
	if !slices.Equal(tr.Folds, wantFolds) {
		t.Errorf("folds %+v\nwant %+v", tr.Folds, wantFolds)
	}
	// 第一次 is not 第一: a literal exception.
	if c := findCandidate(tr, "ad.absolute-term", "第一"); c == nil || c.Outcome != OutcomeException || c.Exception != "第一次" || c.Offset != 0 {
		t.Errorf("第一 candidate %+v, want covered by the exception 第一次", c)
	}
	// 最 佳 and ＮＯ．１ are findings once normalised.
	if c := findCandidate(tr, "ad.absolute-term", "最 佳"); c == nil || c.Outcome != OutcomeFinding || c.From != "pattern 最佳" {
		t.Errorf("最 佳 candidate %+v", c)
	}
	if c := findCandidate(tr, "ad.absolute-term", "ＮＯ．１"); c == nil || c.Outcome != OutcomeFinding {
		t.Errorf("ＮＯ．１ candidate %+v", c)
	}
	// A dated platform ranking is referred to the rule that asks for proof.
	var ranked *Candidate
	for i := range tr.Candidates {
		if c := &tr.Candidates[i]; c.Rule == "ad.absolute-term" && c.Outcome == OutcomeReferred {
			ranked = c
		}
	}
	if ranked == nil || ranked.ReferredTo != "ad.claim-needs-proof" || ranked.Exception == "" {
		t.Errorf("referred candidate %+v", ranked)
	}
	// Food rules judge the text; cosmetics rules do not.
	skipped := map[string]string{}
	for _, s := range tr.Skipped {
		skipped[s.Rule] = s.Why
	}
	if skipped["ad.medical-claim-cosmetics"] == "" || skipped["ad.medical-claim-food"] != "" || skipped["ad.absolute-term"] != "" {
		t.Errorf("skipped %v", skipped)
	}
}

func TestCheckTraceNoRule(t *testing.T) {
	rs, err := loadMap(t, map[string]string{"a.yaml": strings.Replace(goodRule, "    type: terms\n",
		"    type: terms\n    applies_to: {kinds: [livestream]}\n", 1)})
	if err != nil {
		t.Fatal(err)
	}
	fs, tr := rs.CheckTrace(Input{Kind: shopwatch.KindProduct, Text: "甲　乙"})
	if len(fs) != 0 || len(tr.Findings) != 0 || tr.Normalised != "甲乙" || len(tr.Folds) != 1 || len(tr.Skipped) != 1 ||
		tr.Skipped[0].Why != `applies only to page kinds livestream, not "product"` {
		t.Errorf("findings %v, trace %+v", fs, tr)
	}
}
