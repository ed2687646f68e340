package licence

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors returned by the permit and filing number validators.
var (
	// ErrFormat: the number does not have the structure its kind requires.
	ErrFormat = errors.New("number does not have the required format")
	// ErrRegion: the region part names no province-level division, or not
	// the one the number's prefix character names.
	ErrRegion = errors.New("number names an unknown or inconsistent region")
)

// provinceCodes are the first two digits of GB/T 2260 administrative
// division codes of the 31 mainland province-level divisions.
var provinceCodes = map[string]bool{
	"11": true, "12": true, "13": true, "14": true, "15": true,
	"21": true, "22": true, "23": true,
	"31": true, "32": true, "33": true, "34": true, "35": true, "36": true, "37": true,
	"41": true, "42": true, "43": true, "44": true, "45": true, "46": true,
	"50": true, "51": true, "52": true, "53": true, "54": true,
	"61": true, "62": true, "63": true, "64": true, "65": true,
}

// provinceChars maps the one-character abbreviations used in ICP and
// public-security filing numbers to their division code prefix.
var provinceChars = map[rune]string{
	'京': "11", '津': "12", '冀': "13", '晋': "14", '蒙': "15",
	'辽': "21", '吉': "22", '黑': "23",
	'沪': "31", '苏': "32", '浙': "33", '皖': "34", '闽': "35", '赣': "36", '鲁': "37",
	'豫': "41", '鄂': "42", '湘': "43", '粤': "44", '桂': "45", '琼': "46",
	'渝': "50", '川': "51", '蜀': "51", '贵': "52", '黔': "52", '云': "53", '滇': "53", '藏': "54",
	'陕': "61", '秦': "61", '甘': "62", '陇': "62", '青': "63", '宁': "64", '新': "65",
}

// ProvinceOf returns the two-digit division code prefix of a province
// abbreviation character (浙 → "33"), or "" when r is not one.
func ProvinceOf(r rune) string { return provinceChars[r] }

// IsProvinceCode reports whether p is the two-digit code of a mainland
// province-level division.
func IsProvinceCode(p string) bool { return provinceCodes[p] }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ValidateFoodPermit checks the structure of a food business permit number
// (食品经营许可证, 《食品经营许可和备案管理办法》): JY, then 14 digits —
// the business form (1 sales, 2 catering, 3 canteen), the six-digit
// division code of the issuing authority, a six-digit serial number and a
// check digit. The filing number of a seller of pre-packaged food only
// (仅销售预包装食品备案, YB) has the same structure. The check digit's
// algorithm is not published, so it is not verified.
func ValidateFoodPermit(no string) error {
	no = strings.ToUpper(no)
	if len(no) != 16 || (no[:2] != "JY" && no[:2] != "YB") || !allDigits(no[2:]) {
		return fmt.Errorf("food permit %q: %w: want JY or YB and 14 digits", no, ErrFormat)
	}
	if no[2] < '1' || no[2] > '3' {
		return fmt.Errorf("food permit %q: %w: business form digit %q is not 1, 2 or 3", no, ErrFormat, no[2])
	}
	if !provinceCodes[no[3:5]] {
		return fmt.Errorf("food permit %q: %w: %s is not a province code", no, ErrRegion, no[3:5])
	}
	return nil
}

// ValidateFoodProductionPermit checks the structure of a food production
// permit number (食品生产许可证): SC, then 14 digits — a three-digit food
// category code (1xx food, 2xx food additives), the six-digit division
// code, a four-digit serial number and a check digit (not verified).
func ValidateFoodProductionPermit(no string) error {
	no = strings.ToUpper(no)
	if len(no) != 16 || no[:2] != "SC" || !allDigits(no[2:]) {
		return fmt.Errorf("food production permit %q: %w: want SC and 14 digits", no, ErrFormat)
	}
	if no[2] != '1' && no[2] != '2' {
		return fmt.Errorf("food production permit %q: %w: category code %s", no, ErrFormat, no[2:5])
	}
	if !provinceCodes[no[5:7]] {
		return fmt.Errorf("food production permit %q: %w: %s is not a province code", no, ErrRegion, no[5:7])
	}
	return nil
}

// ValidateICP checks an ICP filing or licence number such as
// 沪ICP备12345678号-2 or 京ICP证030173号: a province abbreviation, ICP备
// (filing) or ICP证 (licence), one to twelve digits, 号, and for a filing
// an optional -n site number. Letters compare case-insensitively.
func ValidateICP(no string) error {
	r, n := utf8.DecodeRuneInString(no)
	if provinceChars[r] == "" {
		return fmt.Errorf("icp %q: %w: %q is not a province abbreviation", no, ErrRegion, r)
	}
	rest := no[n:]
	if len(rest) < 3 || !strings.EqualFold(rest[:3], "ICP") {
		return fmt.Errorf("icp %q: %w: want ICP after the province", no, ErrFormat)
	}
	rest = rest[3:]
	filing := strings.HasPrefix(rest, "备")
	if !filing && !strings.HasPrefix(rest, "证") {
		return fmt.Errorf("icp %q: %w: want 备 or 证 after ICP", no, ErrFormat)
	}
	rest = rest[len("备"):]
	digits, tail, ok := strings.Cut(rest, "号")
	if !ok || !allDigits(digits) || len(digits) > 12 {
		return fmt.Errorf("icp %q: %w: want digits and 号", no, ErrFormat)
	}
	if tail != "" {
		if !filing || tail[0] != '-' || !allDigits(tail[1:]) {
			return fmt.Errorf("icp %q: %w: unexpected %q after 号", no, ErrFormat, tail)
		}
	}
	return nil
}

// ValidatePSB checks a public-security filing number (公安机关互联网站
// 安全备案, shown as 京公网安备 11010502030143号): prefix is the province
// abbreviation before 公网安备 and digits the number. The number has 14
// digits and begins with the division code of the filing authority, whose
// province must be the prefix's.
func ValidatePSB(prefix rune, digits string) error {
	if len(digits) != 14 || !allDigits(digits) {
		return fmt.Errorf("public-security filing %q: %w: want 14 digits", digits, ErrFormat)
	}
	p := digits[:2]
	if !provinceCodes[p] {
		return fmt.Errorf("public-security filing %q: %w: %s is not a province code", digits, ErrRegion, p)
	}
	if want := provinceChars[prefix]; want != "" && want != p {
		return fmt.Errorf("public-security filing %q: %w: prefix %c is province %s, the number says %s", digits, ErrRegion, prefix, want, p)
	}
	return nil
}
