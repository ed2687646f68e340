package licence

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Block is the business licence information a shop shows (营业执照信息),
// as far as it could be read from the page text. Empty fields were not
// found.
type Block struct {
	Name     string // 企业名称 (or 经营者名称, 公司名称, 单位名称, 主体名称)
	USCC     string // 统一社会信用代码, upper case; valid under GB 32100-2015
	Address  string // 住所 (or 经营场所, 地址)
	LegalRep string // 法定代表人 (or 负责人)
}

// Labels of each field, longest first so that 企业名称 wins over 名称.
var (
	blockNameLabels     = []string{"企业名称", "经营者名称", "公司名称", "单位名称", "主体名称"}
	blockUSCCLabels     = []string{"统一社会信用代码", "社会信用代码", "信用代码"}
	blockAddressLabels  = []string{"住所", "经营场所", "经营地址", "注册地址"}
	blockLegalRepLabels = []string{"法定代表人", "负责人"}
)

// ParseBlock reads the licence block from the text of a page: each field
// is the value after its first label ("企业名称：某某有限公司",
// "企业名称 某某有限公司" or a label and its value on separate lines). The
// code is kept only when it is a valid unified social credit code, so a
// mistyped code never names a party. A page without a licence block gives
// an empty Block.
func ParseBlock(text string) Block {
	var b Block
	b.Name = labelValue(text, blockNameLabels)
	for _, l := range blockUSCCLabels {
		for rest := text; ; {
			i := strings.Index(rest, l)
			if i < 0 {
				break
			}
			rest = rest[i+len(l):]
			v := strings.ToUpper(firstField(rest))
			if len(v) > 18 {
				v = v[:18]
			}
			if ValidateUSCC(v) == nil {
				b.USCC = v
				break
			}
		}
		if b.USCC != "" {
			break
		}
	}
	b.Address = labelValue(text, blockAddressLabels)
	b.LegalRep = labelValue(text, blockLegalRepLabels)
	return b
}

// IsZero reports whether nothing of the block was found.
func (b Block) IsZero() bool { return b == Block{} }

// labelValue returns the value after the first of labels found in text
// that has one.
func labelValue(text string, labels []string) string {
	for _, l := range labels {
		for rest := text; ; {
			i := strings.Index(rest, l)
			if i < 0 {
				break
			}
			rest = rest[i+len(l):]
			if v := firstField(rest); v != "" {
				return v
			}
		}
	}
	return ""
}

// firstField skips the separators after a label (colons, spaces, line
// breaks) and returns the value up to the next space, line break or
// separator.
func firstField(s string) string {
	s = strings.TrimLeftFunc(s, func(r rune) bool { return r == ':' || r == '：' || unicode.IsSpace(r) })
	end := strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '|' || r == '；' || r == ';' || r == '，'
	})
	if end >= 0 {
		s = s[:end]
	}
	if isLabel(s) {
		return "" // a label without a value, then the next label
	}
	// A value that runs into the next label (no separator in the text)
	// ends before it.
	for _, ls := range [][]string{blockNameLabels, blockUSCCLabels, blockAddressLabels, blockLegalRepLabels, {"食品经营许可证", "营业执照"}} {
		for _, l := range ls {
			if i := strings.Index(s, l); i > 0 {
				s = s[:i]
			}
		}
	}
	if !utf8.ValidString(s) {
		return ""
	}
	return strings.TrimRight(s, ":：")
}

// isLabel reports whether v is itself a field label (a label with no
// value, followed by the next label).
func isLabel(v string) bool {
	for _, ls := range [][]string{blockNameLabels, blockUSCCLabels, blockAddressLabels, blockLegalRepLabels} {
		for _, l := range ls {
			if strings.HasPrefix(v, l) {
				return true
			}
		}
	}
	return false
}
