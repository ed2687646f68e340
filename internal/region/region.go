// Package region tells which page region (shopwatch.Region) an element of
// a page opens, from the structural signals pages carry: the element
// (nav, footer, h1, address, article …), its ARIA role, its schema.org
// microdata (itemprop, itemtype), the words of its class and id, and, from
// a block's own text, its link density (mostly short links: navigation),
// name–value lines (a specification list) and a heading (规格参数, 新闻资讯).
// JSON-LD product data names texts (the product's name and description,
// the seller's name) that are then marked where they appear.
//
// News and editorial content (RegionEditorial) is not the seller's
// advertising only when it stands beside the product: an editorial block
// inside the seller's regions (a "media report" in the description) stays
// the seller's (广告法第十四条: no advertising disguised as news), one that
// holds the product's price, description or specifications is the
// product's, and a page with no product regions at all (an article page of
// a shop's own site) has no editorial region — its text is judged.
//
// The signals are the tables below; the crawler's text extractor reads them
// during its one walk over the parsed page, and the rules' markup reader
// while it tokenises the markup for images and links. Both keep a region
// per open element with Inherit.
package region

import (
	"strings"

	"golang.org/x/net/html/atom"

	"shopwatch"
)

// Attrs are the attributes of an element that name a region.
type Attrs struct {
	Class, ID, Role, ItemProp, ItemType string
}

// Set records an attribute of an element; other attributes are ignored.
func (a *Attrs) Set(key, val string) {
	switch key {
	case "class":
		a.Class = val
	case "id":
		a.ID = val
	case "role":
		a.Role = val
	case "itemprop":
		a.ItemProp = val
	case "itemtype":
		a.ItemType = val
	}
}

// Named reports whether key is an attribute Set records.
func Named(key string) bool {
	switch key {
	case "class", "id", "role", "itemprop", "itemtype":
		return true
	}
	return false
}

// elements open a region by themselves.
var elements = map[atom.Atom]shopwatch.Region{
	atom.Nav:     shopwatch.RegionNavigation,
	atom.Menu:    shopwatch.RegionNavigation,
	atom.Footer:  shopwatch.RegionFooter,
	atom.H1:      shopwatch.RegionTitle,
	atom.Address: shopwatch.RegionSeller,
	atom.Article: shopwatch.RegionEditorial,
}

// roles are ARIA roles (WAI-ARIA 1.2; comment from 1.3).
var roles = map[string]shopwatch.Region{
	"navigation":  shopwatch.RegionNavigation,
	"menu":        shopwatch.RegionNavigation,
	"menubar":     shopwatch.RegionNavigation,
	"menuitem":    shopwatch.RegionNavigation,
	"tablist":     shopwatch.RegionNavigation,
	"toolbar":     shopwatch.RegionNavigation,
	"search":      shopwatch.RegionNavigation,
	"tree":        shopwatch.RegionNavigation,
	"directory":   shopwatch.RegionNavigation,
	"contentinfo": shopwatch.RegionFooter,
	"comment":     shopwatch.RegionComments,
}

// itemprops are schema.org properties given in microdata.
var itemprops = map[string]shopwatch.Region{
	"description":        shopwatch.RegionDescription,
	"offers":             shopwatch.RegionPrice,
	"price":              shopwatch.RegionPrice,
	"lowprice":           shopwatch.RegionPrice,
	"highprice":          shopwatch.RegionPrice,
	"pricecurrency":      shopwatch.RegionPrice,
	"seller":             shopwatch.RegionSeller,
	"provider":           shopwatch.RegionSeller,
	"review":             shopwatch.RegionComments,
	"reviews":            shopwatch.RegionComments,
	"comment":            shopwatch.RegionComments,
	"aggregaterating":    shopwatch.RegionComments,
	"breadcrumb":         shopwatch.RegionNavigation,
	"additionalproperty": shopwatch.RegionSpecs,
	"articlebody":        shopwatch.RegionEditorial,
}

// itemtypes are schema.org types given in microdata (the last path
// segment of the itemtype URL, lower case).
var itemtypes = map[string]shopwatch.Region{
	"offer":                 shopwatch.RegionPrice,
	"aggregateoffer":        shopwatch.RegionPrice,
	"review":                shopwatch.RegionComments,
	"comment":               shopwatch.RegionComments,
	"usercomments":          shopwatch.RegionComments,
	"aggregaterating":       shopwatch.RegionComments,
	"question":              shopwatch.RegionComments,
	"answer":                shopwatch.RegionComments,
	"breadcrumblist":        shopwatch.RegionNavigation,
	"sitenavigationelement": shopwatch.RegionNavigation,
	"wpfooter":              shopwatch.RegionFooter,
	"organization":          shopwatch.RegionSeller,
	"store":                 shopwatch.RegionSeller,
	"onlinestore":           shopwatch.RegionSeller,
	"onlinebusiness":        shopwatch.RegionSeller,
	"localbusiness":         shopwatch.RegionSeller,
	"propertyvalue":         shopwatch.RegionSpecs,
	"article":               shopwatch.RegionEditorial,
	"newsarticle":           shopwatch.RegionEditorial,
	"analysisnewsarticle":   shopwatch.RegionEditorial,
	"backgroundnewsarticle": shopwatch.RegionEditorial,
	"opinionnewsarticle":    shopwatch.RegionEditorial,
	"reportagenewsarticle":  shopwatch.RegionEditorial,
	"reviewnewsarticle":     shopwatch.RegionEditorial,
	"blogposting":           shopwatch.RegionEditorial,
	"liveblogposting":       shopwatch.RegionEditorial,
	"report":                shopwatch.RegionEditorial,
}

// Words of class and id values. A value is cut into words at white space,
// into parts at every character other than a letter or digit and at each
// lower-to-upper case change (J_DivItemDesc: j, div, item, desc). Two
// adjacent parts are looked up in pairs first (shop-info is seller
// information although info alone says nothing); a word none of whose
// pairs is known is judged by its single parts.
var words = map[string]shopwatch.Region{
	// Site navigation and interface: menus, link lists, account,
	// search and sharing widgets, game and membership levels, players.
	"nav": shopwatch.RegionNavigation, "navbar": shopwatch.RegionNavigation,
	"navi": shopwatch.RegionNavigation, "navigation": shopwatch.RegionNavigation,
	"menu": shopwatch.RegionNavigation, "menubar": shopwatch.RegionNavigation,
	"submenu": shopwatch.RegionNavigation, "breadcrumb": shopwatch.RegionNavigation,
	"breadcrumbs": shopwatch.RegionNavigation, "crumb": shopwatch.RegionNavigation,
	"crumbs": shopwatch.RegionNavigation, "sitemap": shopwatch.RegionNavigation,
	"pager": shopwatch.RegionNavigation, "pagination": shopwatch.RegionNavigation,
	"paging": shopwatch.RegionNavigation, "tabbar": shopwatch.RegionNavigation,
	"toolbar": shopwatch.RegionNavigation, "topbar": shopwatch.RegionNavigation,
	"sitenav": shopwatch.RegionNavigation, "login": shopwatch.RegionNavigation,
	"signin": shopwatch.RegionNavigation, "register": shopwatch.RegionNavigation,
	"search": shopwatch.RegionNavigation, "share": shopwatch.RegionNavigation,
	"level": shopwatch.RegionNavigation, "grade": shopwatch.RegionNavigation,
	"rank": shopwatch.RegionNavigation, "ranking": shopwatch.RegionNavigation,
	"gift": shopwatch.RegionNavigation, "gifts": shopwatch.RegionNavigation,
	"player": shopwatch.RegionNavigation, "information": shopwatch.RegionNavigation,
	// News and editorial content.
	"news": shopwatch.RegionEditorial, "xinwen": shopwatch.RegionEditorial,
	"zixun": shopwatch.RegionEditorial, "toutiao": shopwatch.RegionEditorial,
	"headlines": shopwatch.RegionEditorial, "article": shopwatch.RegionEditorial,
	"articles": shopwatch.RegionEditorial, "editorial": shopwatch.RegionEditorial,
	"blog": shopwatch.RegionEditorial,
	// Users' words: comments, reviews, ratings, chat and bullet comments.
	"comment": shopwatch.RegionComments, "comments": shopwatch.RegionComments,
	"review": shopwatch.RegionComments, "reviews": shopwatch.RegionComments,
	"rate": shopwatch.RegionComments, "rating": shopwatch.RegionComments,
	"ratings": shopwatch.RegionComments, "feedback": shopwatch.RegionComments,
	"danmu": shopwatch.RegionComments, "danmaku": shopwatch.RegionComments,
	"barrage": shopwatch.RegionComments, "chat": shopwatch.RegionComments,
	"chatroom": shopwatch.RegionComments, "reply": shopwatch.RegionComments,
	"replies": shopwatch.RegionComments, "discuss": shopwatch.RegionComments,
	"discussion": shopwatch.RegionComments, "forum": shopwatch.RegionComments,
	"bbs": shopwatch.RegionComments, "pinglun": shopwatch.RegionComments,
	"pingjia": shopwatch.RegionComments, "evaluate": shopwatch.RegionComments,
	"evaluation": shopwatch.RegionComments, "guestbook": shopwatch.RegionComments,
	// Footers.
	"footer": shopwatch.RegionFooter, "foot": shopwatch.RegionFooter,
	"copyright": shopwatch.RegionFooter,
	// Seller and shop information, licences, the host of a live room.
	"seller": shopwatch.RegionSeller, "merchant": shopwatch.RegionSeller,
	"vendor": shopwatch.RegionSeller, "shopinfo": shopwatch.RegionSeller,
	"storeinfo": shopwatch.RegionSeller, "sellerinfo": shopwatch.RegionSeller,
	"licence": shopwatch.RegionSeller, "license": shopwatch.RegionSeller,
	"zhizhao": shopwatch.RegionSeller, "qualification": shopwatch.RegionSeller,
	"credential": shopwatch.RegionSeller, "icp": shopwatch.RegionSeller,
	"beian": shopwatch.RegionSeller, "anchor": shopwatch.RegionSeller,
	"shopkeeper": shopwatch.RegionSeller,
	// Prices.
	"price": shopwatch.RegionPrice, "prices": shopwatch.RegionPrice,
	"jiage": shopwatch.RegionPrice, "saleprice": shopwatch.RegionPrice,
	// Product descriptions.
	"desc": shopwatch.RegionDescription, "description": shopwatch.RegionDescription,
	"detail": shopwatch.RegionDescription, "details": shopwatch.RegionDescription,
	"intro": shopwatch.RegionDescription, "introduction": shopwatch.RegionDescription,
	"xiangqing": shopwatch.RegionDescription,
	// Specification and parameter tables and lists (Taobao attributes-list,
	// Tmall J_AttrUL and tm-tableAttr, JD p-parameter and Ptable).
	"spec": shopwatch.RegionSpecs, "specs": shopwatch.RegionSpecs,
	"specification": shopwatch.RegionSpecs, "specifications": shopwatch.RegionSpecs,
	"param": shopwatch.RegionSpecs, "params": shopwatch.RegionSpecs,
	"parameter": shopwatch.RegionSpecs, "parameters": shopwatch.RegionSpecs,
	"attr": shopwatch.RegionSpecs, "attrs": shopwatch.RegionSpecs,
	"attribute": shopwatch.RegionSpecs, "attributes": shopwatch.RegionSpecs,
	"ptable": shopwatch.RegionSpecs, "guige": shopwatch.RegionSpecs,
	"canshu": shopwatch.RegionSpecs,
}

// pairs are two adjacent parts of a class or id word, joined by '-'.
var pairs = map[string]shopwatch.Region{
	"shop-info": shopwatch.RegionSeller, "store-info": shopwatch.RegionSeller,
	"seller-info": shopwatch.RegionSeller, "shop-information": shopwatch.RegionSeller,
	"store-information": shopwatch.RegionSeller, "seller-information": shopwatch.RegionSeller,
	"company-info": shopwatch.RegionSeller, "company-information": shopwatch.RegionSeller,
	"shop-card": shopwatch.RegionSeller, "shop-name": shopwatch.RegionSeller,
	"store-name": shopwatch.RegionSeller, "shop-sign": shopwatch.RegionSeller,
	"main-title": shopwatch.RegionTitle, "item-title": shopwatch.RegionTitle,
	"goods-title": shopwatch.RegionTitle, "product-title": shopwatch.RegionTitle,
	"room-title": shopwatch.RegionTitle, "room-name": shopwatch.RegionTitle,
	"item-name": shopwatch.RegionTitle, "goods-name": shopwatch.RegionTitle,
	"product-name": shopwatch.RegionTitle,
	"tab-bar":      shopwatch.RegionNavigation, "nav-bar": shopwatch.RegionNavigation,
	"site-nav": shopwatch.RegionNavigation,
}

// rank orders regions when one element names several: users' words and
// the site's interface outrank what the seller says, and the narrower
// seller regions outrank the description. Editorial ranks last: an
// element that names both news and a seller region (news-detail) is
// judged as the seller's.
var rank = map[shopwatch.Region]int{
	shopwatch.RegionComments:    9,
	shopwatch.RegionNavigation:  8,
	shopwatch.RegionFooter:      7,
	shopwatch.RegionSeller:      6,
	shopwatch.RegionPrice:       5,
	shopwatch.RegionTitle:       4,
	shopwatch.RegionSpecs:       3,
	shopwatch.RegionDescription: 2,
	shopwatch.RegionEditorial:   1,
}

func better(a, b shopwatch.Region) shopwatch.Region {
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// Classify returns the region an element opens, or "" when it names none,
// and whether it is complementary content (aside, role complementary),
// whose text counts as navigation at a lower link density. The element's
// own tag, role and microdata are read first; class and id words (not on
// html and body, whose classes describe the whole page) only when those
// name nothing.
func Classify(a atom.Atom, at Attrs) (r shopwatch.Region, aside bool) {
	return (*Classifier)(nil).Classify(a, at)
}

// Classifier is Classify with a memory of the class and id values it has
// judged: pages repeat the same few values on thousands of elements. The
// zero Classifier is ready to use; it is not safe for concurrent use.
type Classifier struct {
	seen map[string]shopwatch.Region
}

// maxSeen bounds the values a Classifier remembers.
const maxSeen = 4096

// Classify is the package's Classify.
func (cl *Classifier) Classify(a atom.Atom, at Attrs) (r shopwatch.Region, aside bool) {
	aside = a == atom.Aside
	r = elements[a]
	if at.Role != "" {
		for f := range strings.FieldsSeq(strings.ToLower(at.Role)) {
			if f == "complementary" {
				aside = true
			}
			r = better(r, roles[f])
		}
	}
	if at.ItemProp != "" {
		for f := range strings.FieldsSeq(at.ItemProp) {
			r = better(r, itemprops[strings.ToLower(f)])
		}
	}
	if at.ItemType != "" {
		for f := range strings.FieldsSeq(at.ItemType) {
			if i := strings.LastIndexAny(f, "/#"); i >= 0 {
				f = f[i+1:]
			}
			r = better(r, itemtypes[strings.ToLower(f)])
		}
	}
	if r != "" || a == atom.Html || a == atom.Body {
		return r, aside
	}
	if at.Class != "" {
		r = better(r, cl.words(at.Class))
	}
	if at.ID != "" {
		r = better(r, cl.words(at.ID))
	}
	return r, aside
}

func (cl *Classifier) words(v string) shopwatch.Region {
	if cl == nil {
		return classWords(v)
	}
	if r, ok := cl.seen[v]; ok {
		return r
	}
	r := classWords(v)
	if cl.seen == nil {
		cl.seen = make(map[string]shopwatch.Region, 64)
	}
	if len(cl.seen) < maxSeen {
		cl.seen[v] = r
	}
	return r
}

// classWords judges the words of a class or id value.
func classWords(v string) shopwatch.Region {
	var r shopwatch.Region
	for w := range strings.FieldsSeq(v) {
		r = better(r, word(w))
	}
	return r
}

// maxPart is the longest part looked up; longer parts name nothing.
const maxPart = 24

// word judges one class or id word: by its known pairs of adjacent parts
// when it has any, else by its known single parts. It does not allocate.
func word(w string) shopwatch.Region {
	var buf [2*maxPart + 1]byte
	var single, pair shopwatch.Region
	prevLen := -1 // length of the previous part in buf, -1 for none
	for i := 0; i < len(w); {
		for i < len(w) && !isAlnum(w[i]) {
			i++
		}
		j := i
		for j < len(w) && isAlnum(w[j]) {
			j++
			if j < len(w) && isLower(w[j-1]) && isUpper(w[j]) {
				break
			}
		}
		if j == i {
			break
		}
		part := w[i:j]
		i = j
		if len(part) > maxPart {
			prevLen = -1
			continue
		}
		// buf holds the previous part; lay out "prev-part" after it.
		var cur [maxPart]byte
		n := copy(cur[:], part)
		for k := range n {
			cur[k] = lower(cur[k])
		}
		single = better(single, words[string(cur[:n])])
		if prevLen >= 0 {
			buf[prevLen] = '-'
			copy(buf[prevLen+1:], cur[:n])
			pair = better(pair, pairs[string(buf[:prevLen+1+n])])
		}
		copy(buf[:], cur[:n])
		prevLen = n
	}
	if pair != "" {
		return pair
	}
	return single
}

func isAlnum(c byte) bool { return isLower(c) || isUpper(c) || c >= '0' && c <= '9' }
func isLower(c byte) bool { return c >= 'a' && c <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func lower(c byte) byte {
	if isUpper(c) {
		return c + 'a' - 'A'
	}
	return c
}

// Inherit returns the region of an element's content: the region it opens
// itself, or its parent's. Users' comments and the site's navigation keep
// their region whatever their inner elements say (a review's "price"
// remains a review); a footer's inner seller block is seller information.
// News or an article inside what the seller says (its title, description,
// specifications, price or seller information) remains the seller's: an
// advertisement in the form of news is still an advertisement.
func Inherit(parent, own shopwatch.Region) shopwatch.Region {
	switch {
	case parent == shopwatch.RegionComments || parent == shopwatch.RegionNavigation:
		return parent
	case own == shopwatch.RegionEditorial && Sellers(parent):
		return parent
	case own != "":
		return own
	}
	return parent
}

// Sellers reports whether r is one of the regions where the seller speaks
// about the product: title, description, specifications, price, seller.
func Sellers(r shopwatch.Region) bool {
	switch r {
	case shopwatch.RegionTitle, shopwatch.RegionDescription, shopwatch.RegionSpecs,
		shopwatch.RegionPrice, shopwatch.RegionSeller:
		return true
	}
	return false
}

// Product reports whether r shows that a block holds the product itself:
// its price, description or specifications. An editorial element holding
// one is the product's, not editorial, and a page with none has no
// editorial region. The title is not enough: an article has one too.
func Product(r shopwatch.Region) bool {
	switch r {
	case shopwatch.RegionDescription, shopwatch.RegionSpecs, shopwatch.RegionPrice:
		return true
	}
	return false
}

// Link density: a block whose visible text is mostly the text of several
// short links is navigation (a menu, a category list, a pager), while a
// grid of product tiles, whose links carry long titles and prices, is not.
const (
	NavMinLinks     = 3    // links in the block
	NavLinkShare    = 0.75 // share of the block's text that is link text
	AsideLinkShare  = 0.5  // the share for complementary content
	NavMaxLinkBytes = 30   // mean bytes of text per link (ten CJK characters)
)

// LinkDense reports whether a block with links links holding linkBytes of
// its textBytes of visible text is navigation.
func LinkDense(links, linkBytes, textBytes int, aside bool) bool {
	if links < NavMinLinks || textBytes == 0 || linkBytes > NavMaxLinkBytes*links {
		return false
	}
	share := NavLinkShare
	if aside {
		share = AsideLinkShare
	}
	return float64(linkBytes) >= share*float64(textBytes)
}
