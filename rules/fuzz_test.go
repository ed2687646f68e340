package rules

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"shopwatch"
)

// FuzzLoad feeds arbitrary rule files to the loader: it never panics, and
// it either loads a rule set or fails with a *LoadError whose problems all
// name the file. Seeds run in every go test; longer fuzzing (make soak, or
// go test -fuzz FuzzLoad ./rules) explores further.
func FuzzLoad(f *testing.F) {
	f.Add(goodRule)
	f.Add(markupRules)
	f.Add(regexRules)
	f.Add(strings.Replace(goodRule, "exceptions: [甲乙丙]", "exceptions: [{after: '^丙', refer: t.one}]", 1))
	f.Add("rules: [{id: a.b, type: code, validator: uscc, patterns: [码]}]")
	f.Add("rules:\n  - &x {id: a.b}\n  - *x\n")
	f.Add("version: 2\nrules: 7")
	f.Add("")
	f.Fuzz(func(t *testing.T, text string) {
		rs, err := LoadFS(fstest.MapFS{"r/f.yaml": {Data: []byte(text)}}, "r")
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Problems) == 0 {
				t.Fatalf("error %v is not a *LoadError with problems", err)
			}
			for _, p := range le.Problems {
				if p.File != "r/f.yaml" {
					t.Fatalf("problem %v names file %q", p, p.File)
				}
			}
			return
		}
		// A loaded set judges text without panicking.
		for _, r := range rs.Rules() {
			for _, x := range r.Examples.Positive {
				rs.Check(Input{Kind: shopwatch.KindStorefront, Text: x.Text, HTML: x.HTML})
			}
		}
	})
}

// FuzzCheck runs the built-in rules on arbitrary text and markup: every
// finding's Match is the original text at its Offset.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"全网最 佳口碑，ＮＯ．１爆款", "统一社会信用代码：91350100M000100Y44", "2024年天猫销量第一",
		"最\u200b佳\xff赏味期", "頂級 zui佳 di一", "食品经营许可证：JY19901060012345 沪公网安备 11010502030143号"} {
		f.Add(s, "food", `<img alt="营业执照"><a href="/l">证照</a>`)
	}
	rs, err := Default()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text, category, markup string) {
		for _, kind := range []shopwatch.Kind{shopwatch.KindStorefront, shopwatch.KindProduct} {
			for _, fd := range rs.Check(Input{Kind: kind, Category: category, Text: text, HTML: markup}) {
				if fd.Offset < 0 {
					if fd.Match != "" {
						t.Fatalf("%s: match %q without an offset", fd.Rule, fd.Match)
					}
					continue
				}
				if fd.Offset+len(fd.Match) > len(text) || text[fd.Offset:fd.Offset+len(fd.Match)] != fd.Match {
					t.Fatalf("%s: match %q is not the text at %d", fd.Rule, fd.Match, fd.Offset)
				}
			}
		}
	})
}
