package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"shopwatch/rules/licence"
)

// validator is the mechanism behind a code rule: how to find the code
// after a label, and what is wrong with it.
type validator struct {
	// find returns the code after a label that ends at labelEnd, within
	// window runes, in the normalised text.
	find func(text []byte, labelEnd, window int) (s, e int, ok bool)
	// check says what is wrong with the code found at text[s:e] after a
	// label that starts at labelStart, or "" when nothing is. code is the
	// code in upper case.
	check func(code string, text []byte, labelStart int) string
}

// validators are the code rule validators by name.
var validators = map[string]*validator{
	// A unified social credit code whose check character is wrong.
	"uscc": {find: runAfter(isASCIIAlnum, 18, ""), check: func(code string, _ []byte, _ int) string {
		if err := licence.ValidateUSCC(code); err != nil {
			return usccProblem(code, err)
		}
		return ""
	}},
	// A unified social credit code that passes its own check but whose
	// embedded organisation code does not. A code that fails its own
	// check is the uscc validator's.
	"uscc-org": {find: runAfter(isASCIIAlnum, 18, ""), check: func(code string, _ []byte, _ int) string {
		if licence.ValidateUSCC(code) != nil {
			return ""
		}
		err := licence.ValidateUSCCOrgCode(code)
		if err == nil {
			return ""
		}
		org := code[8:17]
		if errors.Is(err, licence.ErrOrgCodeCheck) {
			want, _ := licence.OrgCodeCheckChar(org[:8])
			return fmt.Sprintf("第 9 至 17 位所含组织机构代码 %s-%c 未通过 GB 11714-1997 校验：校验码应为 %c", org[:8], org[8], want)
		}
		return fmt.Sprintf("第 9 至 17 位所含组织机构代码 %s 不符合 GB 11714-1997 的字符规定", org)
	}},
	// A 15-digit business registration number with a wrong check digit.
	"regno": {find: runAfter(isDigit, 15, ""), check: func(code string, _ []byte, _ int) string {
		err := licence.ValidateRegNo(code)
		if err == nil {
			return ""
		}
		if errors.Is(err, licence.ErrRegNoCheck) {
			want, _ := licence.RegNoCheckDigit(code[:14])
			return fmt.Sprintf("未通过 ISO 7064 MOD 11,10 校验：第 15 位校验码应为 %c，页面所示为 %c", want, code[14])
		}
		return "不是 15 位数字"
	}},
	// A food business permit (JY) or pre-packaged food filing (YB) number
	// with 14 digits whose structure is wrong.
	"food-permit": {find: runAfter(isASCIIAlnum, 16, "jy", "yb"), check: func(code string, _ []byte, _ int) string {
		if err := licence.ValidateFoodPermit(code); err != nil {
			return permitProblem(err, "JY/YB 后第 1 位为经营业态（1 至 3），第 2、3 位为省级行政区划代码")
		}
		return ""
	}},
	// A food production permit (SC) number with 14 digits whose structure
	// is wrong.
	"food-production-permit": {find: runAfter(isASCIIAlnum, 16, "sc"), check: func(code string, _ []byte, _ int) string {
		if err := licence.ValidateFoodProductionPermit(code); err != nil {
			return permitProblem(err, "SC 后前 3 位为食品类别代码（1 或 2 开头），第 4、5 位为省级行政区划代码")
		}
		return ""
	}},
	// A public-security filing number (公网安备) that is not 14 digits or
	// whose region does not match its province prefix.
	"psb": {find: runAfter(isDigit, 0, ""), check: func(code string, text []byte, labelStart int) string {
		prefix, _ := utf8.DecodeLastRune(text[:labelStart])
		if err := licence.ValidatePSB(prefix, code); err != nil {
			if errors.Is(err, licence.ErrRegion) {
				if want := licence.ProvinceOf(prefix); want != "" && licence.IsProvinceCode(code[:2]) {
					return fmt.Sprintf("前缀“%c”对应行政区划代码 %s，编号却以 %s 开头", prefix, want, code[:2])
				}
				return fmt.Sprintf("编号前两位 %s 不是省级行政区划代码", code[:2])
			}
			return fmt.Sprintf("应为 14 位数字，页面所示为 %d 位", len(code))
		}
		return ""
	}},
}

func validatorNames() string {
	var names []string
	for n := range validators {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// runAfter returns a finder for the first run of bytes satisfying in that
// starts within window runes after a label. The run must be exactly n
// bytes long (any length when n is 0) and, when prefixes are given, start
// with one of them (compared with the normalised, lower-case text).
func runAfter(in func(byte) bool, n int, prefixes ...string) func([]byte, int, int) (int, int, bool) {
	var pre []string
	for _, p := range prefixes {
		if p != "" {
			pre = append(pre, p)
		}
	}
	return func(text []byte, i, window int) (int, int, bool) {
		for runes := 0; i < len(text) && runes < window; {
			if isASCIIAlnum(text[i]) {
				j := i
				for j < len(text) && isASCIIAlnum(text[j]) {
					j++
				}
				run := text[i:j]
				ok := n == 0 || len(run) == n
				for k := range run {
					if !in(run[k]) && (len(pre) == 0 || k >= 2) {
						ok = false
					}
				}
				if ok && len(pre) > 0 {
					ok = slices.ContainsFunc(pre, func(p string) bool { return strings.HasPrefix(string(run), p) })
				}
				if ok {
					return i, j, true
				}
				runes += j - i
				i = j
				continue
			}
			_, size := utf8.DecodeRune(text[i:])
			i += size
			runes++
		}
		return 0, 0, false
	}
}

func permitProblem(err error, structure string) string {
	if errors.Is(err, licence.ErrRegion) {
		return "所示地区代码不是省级行政区划代码（" + structure + "）"
	}
	return "结构不符合编号规则（" + structure + "）"
}

// usccProblem says in words what is wrong with a code.
func usccProblem(code string, err error) string {
	switch {
	case errors.Is(err, licence.ErrUSCCCheck):
		want, _ := licence.USCCCheckChar(code[:17])
		return fmt.Sprintf("未通过 GB 32100-2015 校验：第 18 位校验码应为 %c，页面所示为 %c", want, code[17])
	case errors.Is(err, licence.ErrUSCCChar):
		return "含 GB 32100-2015 代码字符集之外的字符（代码不使用 I、O、S、V、Z）"
	}
	return "无效：" + err.Error()
}
