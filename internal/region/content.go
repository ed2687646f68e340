package region

import (
	"strings"
	"unicode/utf8"

	"shopwatch"
)

// headings are the block headings that name a region: specification
// tables and lists, and news or editorial blocks. A heading is the first
// line of a block's text, trimmed of spaces and a trailing colon. News
// headings are those of general and trade news only: 公司新闻, 企业动态 and
// 媒体报道 are the seller's own publicity and stay judged.
var headings = map[string]shopwatch.Region{
	"规格参数": shopwatch.RegionSpecs, "产品参数": shopwatch.RegionSpecs, "商品参数": shopwatch.RegionSpecs,
	"规格与包装": shopwatch.RegionSpecs, "参数信息": shopwatch.RegionSpecs, "基本参数": shopwatch.RegionSpecs,
	"主要参数": shopwatch.RegionSpecs, "技术参数": shopwatch.RegionSpecs, "详细参数": shopwatch.RegionSpecs,
	"参数规格": shopwatch.RegionSpecs, "产品规格": shopwatch.RegionSpecs, "商品规格": shopwatch.RegionSpecs,
	"规格信息": shopwatch.RegionSpecs, "商品属性": shopwatch.RegionSpecs, "产品属性": shopwatch.RegionSpecs,
	"商品详情": shopwatch.RegionSpecs, "产品详情": shopwatch.RegionSpecs, "产品信息": shopwatch.RegionSpecs,
	"商品信息": shopwatch.RegionSpecs, "规格": shopwatch.RegionSpecs, "参数": shopwatch.RegionSpecs,

	"新闻": shopwatch.RegionEditorial, "资讯": shopwatch.RegionEditorial, "新闻资讯": shopwatch.RegionEditorial,
	"最新资讯": shopwatch.RegionEditorial, "最新新闻": shopwatch.RegionEditorial, "行业资讯": shopwatch.RegionEditorial,
	"行业新闻": shopwatch.RegionEditorial, "行业动态": shopwatch.RegionEditorial, "热点资讯": shopwatch.RegionEditorial,
	"热点新闻": shopwatch.RegionEditorial, "相关资讯": shopwatch.RegionEditorial, "相关新闻": shopwatch.RegionEditorial,
	"头条": shopwatch.RegionEditorial, "新闻头条": shopwatch.RegionEditorial, "今日头条": shopwatch.RegionEditorial,
	"资讯头条": shopwatch.RegionEditorial,
}

// maxHeadingBytes bounds the first line read as a heading.
const maxHeadingBytes = 32

// Heading returns the region a block's text names by its first line
// (规格参数: specs, 行业资讯: editorial), or "".
func Heading(text string) shopwatch.Region {
	line := text[:min(len(text), maxHeadingBytes+8)]
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	} else if len(text) > len(line) {
		return "" // the first line is longer than any heading
	}
	line = strings.TrimSpace(line)
	line = strings.TrimRight(strings.TrimSuffix(strings.TrimSuffix(line, "："), ":"), " ")
	return headings[line]
}

// Name–value lines: a short name (up to MaxNameRunes characters, none of
// them sentence punctuation), a colon and a value (品牌：KBDfans); in a
// table row, whose cells are separated by a space, a short first cell and
// a further cell (存储容量 64GB). A line longer than maxLineRunes is prose.
const (
	MaxNameRunes = 12
	maxLineRunes = 120
	// SpecMinLines is the fewest name–value lines that make a list a
	// specification list; a list under a specification heading needs
	// two.
	SpecMinLines = 3
	// SpecShare is the share of a list's lines that must be name–value
	// lines. Single short lines (up to shortRunes characters: 网络, 基本参数)
	// are group headings and count neither way.
	SpecShare  = 0.6
	shortRunes = 8
	// MaxSpecBytes bounds the text of a block read for name–value lines.
	MaxSpecBytes = 32 << 10
)

// SpecList reports whether the text of a block (a list, table or
// description list, one item per line; cells separated by spaces when
// cells is set) is a specification list: mostly name–value lines, at
// least SpecMinLines of them, or two under a specification heading.
func SpecList(text string, cells bool) bool {
	if len(text) > MaxSpecBytes || !cells && !strings.ContainsAny(text, ":：") {
		return false
	}
	need := SpecMinLines
	if Heading(text) == shopwatch.RegionSpecs {
		need = 2
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			text = text[i+1:]
		} else {
			return false
		}
	}
	kv, counted := 0, 0
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		n := utf8.RuneCountInString(line)
		switch {
		case nameValue(line, cells) && n <= maxLineRunes:
			kv++
			counted++
		case n <= shortRunes && !strings.ContainsAny(line, " :："):
		default:
			counted++
		}
	}
	return kv >= need && float64(kv) >= SpecShare*float64(counted)
}

// nameValue reports whether line is a name–value pair.
func nameValue(line string, cells bool) bool {
	i := strings.IndexAny(line, ":：")
	if i < 0 && cells {
		i = strings.IndexByte(line, ' ')
	}
	if i <= 0 {
		return false
	}
	name, value := strings.TrimSpace(line[:i]), line[i:]
	_, size := utf8.DecodeRuneInString(value)
	value = strings.TrimSpace(value[size:])
	if name == "" || value == "" || utf8.RuneCountInString(name) > MaxNameRunes {
		return false
	}
	return !strings.ContainsAny(name, "，。！？；,.!?;")
}
