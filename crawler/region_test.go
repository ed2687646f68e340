package crawler

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"shopwatch"
	"shopwatch/internal/testparts"
)

// regionOfText returns the region ExtractRegions gives the first
// occurrence of s in the page's text.
func regionOfText(t *testing.T, text string, regs []shopwatch.TextRegion, s string) shopwatch.Region {
	t.Helper()
	i := strings.Index(text, s)
	if i < 0 {
		t.Fatalf("%q not in the text %q", s, text)
	}
	r := shopwatch.RegionAt(regs, i)
	if end := shopwatch.RegionAt(regs, i+len(s)-1); end != r {
		t.Errorf("%q starts in %s and ends in %s", s, r, end)
	}
	return r
}

// Every region kind, each from the signals pages really carry.
func TestExtractRegions(t *testing.T) {
	const (
		N  = shopwatch.RegionNavigation
		C  = shopwatch.RegionComments
		F  = shopwatch.RegionFooter
		S  = shopwatch.RegionSeller
		P  = shopwatch.RegionPrice
		D  = shopwatch.RegionDescription
		T  = shopwatch.RegionTitle
		O  = shopwatch.RegionOther
		SP = shopwatch.RegionSpecs
	)
	cases := []struct {
		name, html, text string
		want             shopwatch.Region
	}{
		{"nav element", `<nav><span>导航甲</span></nav>`, "导航甲", N},
		{"role navigation", `<div role="navigation">导航乙</div>`, "导航乙", N},
		{"breadcrumb class", `<div class="tb-breadcrumb">导航丙</div>`, "导航丙", N},
		{"microdata breadcrumb", `<ol itemscope itemtype="https://schema.org/BreadcrumbList"><li>导航丁</li></ol>`, "导航丁", N},
		{"information list", `<ul class="match-information-list"><li><a href="/n/1">第三方新闻标题足够长的一条</a></li></ul>`, "第三方新闻标题足够长的一条", N},
		{"game level panel", `<div class="anchor-level-ibox"><p class="title">已达到最高等级</p></div>`, "已达到最高等级", N},
		{"link dense menu", `<div><a href="/1">首页</a> <a href="/2">女装</a> <a href="/3">男装</a> <a href="/4">童装</a></div>`, "女装", N},
		{"aside links", `<aside><a href="/1">热销一</a><a href="/2">热销二</a><a href="/3">热销三</a><p>侧栏说明</p></aside>`, "侧栏说明", N},
		{"comments id", `<div id="J_Reviews"><p>买家评论甲</p></div>`, "买家评论甲", C},
		{"comment class", `<ul class="comment-list"><li>买家评论乙</li></ul>`, "买家评论乙", C},
		{"review microdata", `<div itemscope itemtype="http://schema.org/Review"><p>买家评论丙</p></div>`, "买家评论丙", C},
		{"role comment", `<article role="comment">买家评论丁</article>`, "买家评论丁", C},
		{"price in a review stays a review", `<div class="rate-grid"><span class="price">评论里的价格</span></div>`, "评论里的价格", C},
		{"live chat", `<div class="chat-room"><p>观众弹幕</p></div>`, "观众弹幕", C},
		{"footer element", `<footer><p>页脚甲</p></footer>`, "页脚甲", F},
		{"role contentinfo", `<div role="contentinfo">页脚乙</div>`, "页脚乙", F},
		{"footer class", `<div id="site-footer">页脚丙</div>`, "页脚丙", F},
		{"seller in footer", `<footer><div class="licence">营业执照信息甲</div></footer>`, "营业执照信息甲", S},
		{"shop info", `<div class="shop-info">店铺信息甲</div>`, "店铺信息甲", S},
		{"organization microdata", `<div itemscope itemtype="https://schema.org/Organization">店铺信息乙</div>`, "店铺信息乙", S},
		{"address", `<address>店铺地址甲</address>`, "店铺地址甲", S},
		{"price class", `<div class="tm-price-panel"><span>价格甲</span></div>`, "价格甲", P},
		{"price microdata", `<span itemprop="price">价格乙</span>`, "价格乙", P},
		{"description id", `<div id="J_DivItemDesc"><p>描述甲</p></div>`, "描述甲", D},
		{"description microdata", `<div itemprop="description">描述乙</div>`, "描述乙", D},
		// Specifications: class words of the real sites (Taobao
		// attributes-list, JD p-parameter and Ptable), microdata, and
		// lists or tables of name–value lines without any class.
		{"taobao attributes", `<div id="attributes" class="attributes"><ul class="attributes-list"><li title="KBDfans">品牌:&nbsp;KBDfans</li><li title="无线">连接方式:&nbsp;无线</li></ul></div>`, "连接方式:\u00a0无线", SP},
		{"jd parameter list", `<div class="p-parameter"><ul class="parameter2 p-parameter-list"><li title="某某">商品名称：某某牌枸杞</li><li title="宁夏">商品产地：宁夏</li></ul></div>`, "商品产地：宁夏", SP},
		{"jd ptable", `<div class="Ptable"><div class="Ptable-item"><h3>主体</h3><dl class="clearfix"><dt>品牌</dt><dd>某某</dd></dl></div></div>`, "主体", SP},
		{"additionalProperty microdata", `<div itemprop="additionalProperty" itemscope itemtype="https://schema.org/PropertyValue"><span itemprop="name">产地</span>：<span itemprop="value">浙江杭州</span></div>`, "产地：浙江杭州", SP},
		{"name-value list", `<ul><li>品牌：某某</li><li>产地：浙江杭州</li><li>保质期：180天</li><li>储存方法：常温避光</li></ul>`, "保质期：180天", SP},
		{"table under a spec heading", `<div class="box"><h3>规格参数</h3><table><tr><th>材质</th><td>100%纯棉</td></tr><tr><th>产地</th><td>广东佛山</td></tr></table></div>`, "材质 100%纯棉", SP},
		{"description list", `<dl><dt>品牌</dt><dd>某某</dd><dt>净含量</dt><dd>500g</dd><dt>产地</dt><dd>宁夏中宁</dd></dl>`, "净含量", SP},
		{"spec list inside the description", `<div id="J_DivItemDesc"><p>描述开头的一段话</p><ul><li>品牌：某某</li><li>产地：浙江</li><li>功效：治疗失眠</li></ul></div>`, "功效：治疗失眠", SP},
		{"text around it stays description", `<div id="J_DivItemDesc"><p>描述开头的一段话</p><ul><li>品牌：某某</li><li>产地：浙江</li><li>功效：治疗失眠</li></ul><p>描述结尾</p></div>`, "描述结尾", D},
		{"prose list is not specs", `<ul><li>这款杯子采用优质不锈钢制造，保温效果很好，适合办公室使用。</li><li>杯盖密封不漏水，出门携带也放心，送礼自用都合适。</li><li>注意：请勿放入微波炉加热。</li></ul>`, "杯盖密封不漏水", O},
		{"a list of short words is not specs", `<ul><li>透气</li><li>舒适</li><li>耐磨</li><li>百搭</li></ul>`, "舒适", O},
		{"price in a spec list stays price", `<ul><li>品牌：某某</li><li>产地：浙江</li><li class="price">价格：99元</li></ul>`, "价格：99元", P},
		{"seller block of name-value lines stays seller", `<div class="shop-info"><ul><li>掌柜：某某</li><li>资质：营业执照</li><li>所在地：浙江杭州</li></ul></div>`, "所在地：浙江杭州", S},
		{"h1", `<h1>标题甲</h1>`, "标题甲", T},
		{"main title class", `<h3 class="tb-main-title">标题乙</h3>`, "标题乙", T},
		{"room name", `<p class="room-name">标题丙</p>`, "标题丙", T},
		{"plain text", `<div class="box"><p>普通文字</p></div>`, "普通文字", O},
		{"product grid is not navigation", `<ul><li><a href="/i/1">全网最低价的保温杯三百毫升不锈钢</a> <span>¥99</span></li><li><a href="/i/2">全网最低价的保温杯五百毫升不锈钢</a> <span>¥109</span></li><li><a href="/i/3">全网最低价的保温杯一千毫升不锈钢</a> <span>¥129</span></li></ul>`, "全网最低价的保温杯五百毫升不锈钢", O},
		{"body class names no region", `<body class="page-nav-footer"><p>正文甲</p></body>`, "正文甲", O},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := c.text
			_, got, _, regs := ExtractRegions("<!doctype html><html><body><p>前文</p>" + c.html + "<p>后文</p></body></html>")
			if r := regionOfText(t, got, regs, text); r != c.want {
				t.Errorf("%q in %s, want %s (regions %v)", text, r, c.want, regs)
			}
			if r := regionOfText(t, got, regs, "前文"); r != O && c.name != "body class names no region" {
				t.Errorf("text before the element in %s, want other", r)
			}
		})
	}
}

// JSON-LD names the product's title and description and the seller; the
// texts are marked where they appear, unless markup said otherwise.
func TestExtractRegionsJSONLD(t *testing.T) {
	const doc = `<html><head><script type="application/ld+json">
{"@context":"https://schema.org","@graph":[{"@type":"Product","name":"某某牌保温杯 500ml",
 "description":"采用 304 不锈钢，保温十二小时。","offers":{"@type":"Offer","price":"99",
 "seller":{"@type":"Organization","name":"某某家居旗舰店"}}}]}</script></head>
<body><div><p>某某牌保温杯 500ml</p><p>采用 304 不锈钢，保温十二小时。</p><p>某某家居旗舰店</p>
<nav>某某家居旗舰店的导航</nav></div></body></html>`
	_, text, _, regs := ExtractRegions(doc)
	for s, want := range map[string]shopwatch.Region{
		"某某牌保温杯 500ml": shopwatch.RegionTitle,
		"采用 304 不锈钢":   shopwatch.RegionDescription,
		"某某家居旗舰店":      shopwatch.RegionSeller,
		"某某家居旗舰店的导航":   shopwatch.RegionNavigation,
	} {
		if got := regionOfText(t, text, regs, s); got != want {
			t.Errorf("%q in %s, want %s", s, got, want)
		}
	}
	// A script that is not JSON marks nothing and breaks nothing.
	_, text, _, regs = ExtractRegions(`<script type="application/ld+json">{"@type":"Product",</script><p>文字</p>`)
	if text != "文字" || len(regs) != 0 {
		t.Errorf("bad JSON-LD gave text %q regions %v", text, regs)
	}
}

// Regions are sorted, do not overlap, lie inside the text and start and
// end on character boundaries, on the real pages too.
func TestExtractRegionsWellFormed(t *testing.T) {
	for _, name := range []string{"tmall.html", "taobao.html", "zhanqi.html"} {
		t.Run(name, func(t *testing.T) {
			h, _, _, _, err := DecodeHTML(realPage(t, name), "text/html")
			if err != nil {
				t.Fatal(err)
			}
			_, text, _, regs := ExtractRegions(h)
			_, plain, _ := ExtractText(h)
			if text != plain {
				t.Fatal("ExtractRegions and ExtractText give different text")
			}
			prev := 0
			seen := map[shopwatch.Region]bool{}
			for _, r := range regs {
				if r.Start < prev || r.End <= r.Start || r.End > len(text) {
					t.Fatalf("bad span %+v after %d (text %d bytes)", r, prev, len(text))
				}
				if !utf8RuneStart(text, r.Start) || !utf8RuneStart(text, r.End) {
					t.Errorf("span %+v cuts a character", r)
				}
				if _, err := shopwatch.ParseRegion(string(r.Region)); err != nil || r.Region == shopwatch.RegionOther {
					t.Errorf("span %+v: region %q", r, r.Region)
				}
				seen[r.Region] = true
				prev = r.End
			}
			if !seen[shopwatch.RegionNavigation] {
				t.Errorf("no navigation found on %s", name)
			}
			t.Logf("%d spans, regions %v", len(regs), seen)
		})
	}
}

// On the saved real marketplace product pages, the extractor finds the
// parts a regulator reads from the sites' own markup: the product title,
// the price panel and the description, and the seller, comments and menus
// around them. Every Taobao, Tmall or JD page in the folder must show at
// least a title, a price and a description; the known pages are checked
// text by text.
func TestExtractRegionsRealMarketplaces(t *testing.T) {
	const (
		N  = shopwatch.RegionNavigation
		C  = shopwatch.RegionComments
		S  = shopwatch.RegionSeller
		P  = shopwatch.RegionPrice
		D  = shopwatch.RegionDescription
		T  = shopwatch.RegionTitle
		SP = shopwatch.RegionSpecs
	)
	known := map[string][]struct {
		text string
		want shopwatch.Region
	}{
		"tmall.html": {
			{"【官网价直降】Apple/苹果 iPhone 11 4G全网通智能手机", T},
			{"5499.00-6799.00", P},
			{"原封国行 苏宁直发", D},
			{"产品名称：Apple/苹果 iPhone 11", SP},
			{"网络类型 \u00a0无需合约版", SP},
			{"5W USB 电源适配器 1 件", SP},
			{"开店时长", S},
			{"累计评价38287", C},
			{"喵，欢迎来天猫", N},
		},
		"taobao.html": {
			{"乳白亚克力外壳 60%键盘外壳", T},
			{"¥149.00 - 159.00", P},
			{"是否支持人体工程学", SP},
			{"描述加载中", D},
			{"掌柜：", S},
			{"累计评论", C},
			{"已买到的宝贝", N},
		},
	}
	dir := testparts.RealPagesDir(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		testparts.Unavailable(t, "saved real pages in "+dir, err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if filepath.Ext(n) == ".html" && (strings.HasPrefix(n, "taobao") || strings.HasPrefix(n, "tmall") || strings.HasPrefix(n, "jd")) {
			names = append(names, n)
		}
	}
	for n := range known {
		if !slices.Contains(names, n) {
			t.Errorf("%s is missing from %s", n, dir)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			h, _, _, _, err := DecodeHTML(realPage(t, name), "text/html")
			if err != nil {
				t.Fatal(err)
			}
			_, text, _, regs := ExtractRegions(h)
			size := map[shopwatch.Region]int{}
			for _, r := range regs {
				size[r.Region] += r.End - r.Start
			}
			for _, r := range []shopwatch.Region{T, P, D} {
				if size[r] == 0 {
					t.Errorf("no %s region found", r)
				}
			}
			for _, c := range known[name] {
				if got := regionOfText(t, text, regs, c.text); got != c.want {
					t.Errorf("%q in %s, want %s", c.text, got, c.want)
				}
			}
			t.Logf("%d bytes of text; bytes by region %v", len(text), size)
		})
	}
}

func utf8RuneStart(s string, i int) bool {
	return i == len(s) || s[i]&0xC0 != 0x80
}

// News and articles beside the product are editorial: by class words, by
// schema.org article microdata and by a news heading. News inside the
// seller's description stays the seller's, an article holding the
// product's price is the product's, and a page without the product (an
// article page) has no editorial region at all.
func TestExtractRegionsEditorial(t *testing.T) {
	const product = `<!doctype html><html><body>
<h1 class="tb-main-title">某某牌保温杯</h1>
<div class="tm-price-panel"><span>¥99</span></div>
<div id="J_DivItemDesc"><p>描述正文甲</p><div class="news"><p>央视报道：本品全国销量第一</p></div></div>
<div class="col-side"><article class="news-item"><h2>行业观察</h2><p>据新华社报道，保温杯行业今年迎来最好的一年。</p></article>
<div class="mod"><h3>行业资讯：</h3><p>国家市场监管总局发布保温杯质量抽查结果，合格率创最高水平。</p></div>
<div class="mod"><h3>公司新闻</h3><p>本公司保温杯荣获最佳设计奖。</p></div>
<div itemscope itemtype="https://schema.org/NewsArticle"><p itemprop="articleBody">新闻正文乙</p></div>
<div class="zixun-box"><p>资讯正文丙</p><div class="price-tag">资讯里的价格</div></div></div>
<article class="goods"><div class="price">¥199</div><p>商品正文丁</p></article>
<div id="J_Reviews"><article class="news"><p>评论里的新闻</p></article></div>
</body></html>`
	_, text, _, regs := ExtractRegions(product)
	for s, want := range map[string]shopwatch.Region{
		"据新华社报道":        shopwatch.RegionEditorial,
		"行业观察":          shopwatch.RegionEditorial,
		"行业资讯：":         shopwatch.RegionEditorial,
		"国家市场监管总局发布":    shopwatch.RegionEditorial,
		"新闻正文乙":         shopwatch.RegionEditorial,
		"资讯正文丙":         shopwatch.RegionOther, // its block holds a price: the product's
		"央视报道：本品全国销量第一": shopwatch.RegionDescription,
		"本公司保温杯荣获最佳设计奖": shopwatch.RegionOther, // the company's own news is its publicity
		"商品正文丁":         shopwatch.RegionOther,
		"评论里的新闻":        shopwatch.RegionComments,
		"描述正文甲":         shopwatch.RegionDescription,
	} {
		if got := regionOfText(t, text, regs, s); got != want {
			t.Errorf("%q in %s, want %s", s, got, want)
		}
	}

	const article = `<!doctype html><html><body><h1>某某公司新闻</h1>
<article class="news-detail"><h2>我司保温杯全国领先</h2><p>我们的保温杯是最好的保温杯。</p></article>
<div class="news"><p>行业资讯</p><p>另一条新闻</p></div></body></html>`
	_, text, _, regs = ExtractRegions(article)
	for _, r := range regs {
		if r.Region == shopwatch.RegionEditorial {
			t.Errorf("an article page without the product has editorial text %q", text[r.Start:r.End])
		}
	}
	if got := regionOfText(t, text, regs, "我们的保温杯是最好的保温杯"); got != shopwatch.RegionDescription && got != shopwatch.RegionOther {
		t.Errorf("the article of an article page in %s, want it judged (other or description)", got)
	}
}
