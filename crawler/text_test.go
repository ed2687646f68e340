package crawler

import (
	"reflect"
	"strings"
	"testing"
)

func TestExtractText(t *testing.T) {
	const doc = `<!doctype html>
<html><head>
  <title>  旗舰店
     首页 </title>
  <style>.x { color: red }</style>
  <script>document.write("脚本文字")</script>
  <meta name="description" content="描述文字">
</head>
<body>
  <div class="nav"><a href="/shop/1/">店铺首页</a> | <a href="item/2#reviews">商品</a></div>
  <h1>全网<b>最佳</b>口碑</h1>
  <p>第一行<br>第二行</p>
  <noscript>请启用脚本</noscript>
  <template><p>模板文字</p><a href="/from-template">x</a></template>
  <div hidden>隐藏文字</div>
  <!-- 注释文字 -->
  <table><tr><td>企业名称：</td><td>杭州某某有限公司</td></tr>
         <tr><th>统一社会信用代码：</th><td>91330106MA27XXXX0X</td></tr></table>
  <ul><li>一</li><li>二</li></ul>
  <pre>  保留   空格
第二行</pre>
  <svg><title>图标提示</title><text>图中文字</text></svg>
  <map><area href="/area-link" alt="区域"></map>
  <a href="  javascript:void(0)  ">空链接</a>
  <span>行内</span><span>相连</span>
</body></html>`
	title, text, links := ExtractText(doc)
	if title != "旗舰店 首页" {
		t.Errorf("title = %q, want %q", title, "旗舰店 首页")
	}
	wantLines := []string{
		"店铺首页 | 商品",
		"全网最佳口碑",
		"第一行",
		"第二行",
		"企业名称： 杭州某某有限公司",
		"统一社会信用代码： 91330106MA27XXXX0X",
		"一",
		"二",
		"保留   空格",
		"第二行",
		"图中文字 空链接 行内相连", // svg, a and span are all inline
	}
	if got := strings.Split(text, "\n"); !reflect.DeepEqual(got, wantLines) {
		t.Errorf("text lines:\n%q\nwant:\n%q", got, wantLines)
	}
	for _, hidden := range []string{"脚本文字", "color", "请启用脚本", "模板文字", "隐藏文字", "注释文字", "图标提示", "描述文字"} {
		if strings.Contains(text, hidden) {
			t.Errorf("text contains hidden %q", hidden)
		}
	}
	wantLinks := []string{"/shop/1/", "item/2#reviews", "/area-link", "javascript:void(0)"}
	if !reflect.DeepEqual(links, wantLinks) {
		t.Errorf("links = %q, want %q", links, wantLinks)
	}
}

func TestExtractTextMalformed(t *testing.T) {
	// Unclosed and misnested tags, a stray </p>, an unterminated comment
	// at the very end: browsers repair all of it, and so must we.
	const doc = `<html><body><div><p>未闭合段落<b>粗体<i>斜体</b>后文</p></p>
<table><tr><td>单元格一<td>单元格二</div><li>列表项<p>段落二<!-- 未结束的注释`
	title, text, _ := ExtractText(doc)
	if title != "" {
		t.Errorf("title = %q, want none", title)
	}
	for _, want := range []string{"未闭合段落粗体斜体后文", "单元格一 单元格二", "列表项", "段落二"} {
		if !strings.Contains(text, want) {
			t.Errorf("text %q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "未结束的注释") {
		t.Errorf("text %q has comment text", text)
	}
}

func TestExtractTextTextareaMarkup(t *testing.T) {
	// Tmall keeps lazily loaded sections as markup inside a hidden
	// textarea; a plain textarea reads as its text.
	doc := `<div><textarea class="ks-datalazyload">&lt;div class="bd"&gt;&lt;h4&gt;店铺动态评分&lt;/h4&gt;&lt;a href="/rate"&gt;描述相符&lt;/a&gt;&lt;/div&gt;</textarea>
<textarea>请输入 评价</textarea></div>`
	_, text, links := ExtractText(doc)
	if want := "店铺动态评分\n描述相符\n请输入 评价"; text != want {
		t.Errorf("text = %q, want %q", text, want)
	}
	if !reflect.DeepEqual(links, []string{"/rate"}) {
		t.Errorf("links = %q, want the link inside the textarea markup", links)
	}
}

func TestExtractTextEmpty(t *testing.T) {
	for _, doc := range []string{"", "   ", "<html></html>", "<!-- only a comment -->"} {
		title, text, links := ExtractText(doc)
		if title != "" || text != "" || len(links) != 0 {
			t.Errorf("ExtractText(%q) = %q, %q, %q; want nothing", doc, title, text, links)
		}
	}
}

func TestSameHostLinks(t *testing.T) {
	hrefs := []string{
		"/a", "/a#top", "b?x=1", "#only-fragment", "", "//OTHER.example/c",
		"https://shop.example/d", "http://shop.example:80/e", "http://shop.example:8080/f",
		"mailto:x@y", "javascript:void(0)", "ftp://shop.example/g", "/a", "http://shop.example/list/",
		"http://[::1", "http://SHOP.example./h",
	}
	got := sameHostLinks("http://shop.example/list/", "", hrefs)
	want := []string{
		"http://shop.example/a",
		"http://shop.example/list/b?x=1",
		"https://shop.example/d",
		"http://shop.example:80/e",
		"http://SHOP.example./h",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("links:\n%q\nwant:\n%q", got, want)
	}
	got = sameHostLinks("http://shop.example/list/", "/base/dir/", []string{"x", "../y"})
	want = []string{"http://shop.example/base/dir/x", "http://shop.example/base/y"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("links with <base>: %q, want %q", got, want)
	}
}

func TestExtractTextDeepNesting(t *testing.T) {
	var b strings.Builder
	b.WriteString("<html><body><p>浅层文字</p>")
	for range 2000 {
		b.WriteString("<div>")
	}
	b.WriteString("深层文字<a href=\"/deep\">链接</a>")
	for range 2000 {
		b.WriteString("</div>")
	}
	b.WriteString("<p>结尾</p></body></html>")
	_, text, links := ExtractText(b.String())
	for _, want := range []string{"浅层文字", "深层文字", "链接", "结尾"} {
		if !strings.Contains(text, want) {
			t.Errorf("text of 2000-deep markup lacks %q: %q", want, text)
		}
	}
	if len(links) != 1 || links[0] != "/deep" {
		t.Errorf("links = %q, want [/deep]", links)
	}
}
