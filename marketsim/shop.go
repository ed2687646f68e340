package marketsim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"shopwatch/rules/licence"
)

// Shares of the generated population. Each is the probability of one
// independent draw per shop, product or room, so a market of n shops shows
// them within the usual binomial spread.
const (
	// Licence display on storefronts: one bucket per shop.
	ShareLicenceFull    = 0.60 // full licence block, ICP filing shown
	ShareLicenceNone    = 0.15 // no licence block, no ICP filing
	ShareLicenceBadUSCC = 0.15 // full, but the credit code's check character is wrong
	// The remaining 0.10 is the food-permit bucket: food shops in it show
	// everything but the food permit; other shops in it show everything.
	ShareLicenceFoodPermitBucket = 1 - ShareLicenceFull - ShareLicenceNone - ShareLicenceBadUSCC

	ShareGBK              = 0.30 // shops whose pages are GB18030 bytes labelled gbk
	ShareLateMeta         = 0.50 // of GBK shops: meta charset after more than 2 KB of head
	ShareRoom             = 0.25 // shops with a livestream room
	ShareProductViolating = 0.40 // product descriptions with one or two violating phrases
	ShareRoomViolating    = 0.50 // rooms with one or two violating phrases
	ShareTwoPhrases       = 0.30 // of violating pages: two phrases rather than one

	MinItems = 2 // products per shop, uniform in [MinItems, MaxItems]
	MaxItems = 6
)

// licenceState is how a storefront displays its licences.
type licenceState int

const (
	licFull licenceState = iota
	licNone
	licBadUSCC
	licNoFoodPermit
)

func (l licenceState) String() string {
	switch l {
	case licFull:
		return "full"
	case licNone:
		return "none"
	case licBadUSCC:
		return "bad-uscc"
	case licNoFoodPermit:
		return "no-food-permit"
	}
	return "licence(" + strconv.Itoa(int(l)) + ")"
}

// shape is what a shop is, without any of its text: enough to count and
// classify pages.
type shape struct {
	id       int
	cat      category
	licence  licenceState
	gbk      bool
	lateMeta bool
	items    int
	room     bool
}

// shapeAt draws the shape of shop id and returns the stream positioned after
// it, so that shopAt can continue with the shop's text.
func (m *Market) shapeAt(id int) (shape, rng) {
	r := newRNG(m.seed, saltShop, uint64(id), 0)
	s := shape{id: id}
	s.cat = category(r.intn(int(numCategories)))
	switch x := r.float(); {
	case x < ShareLicenceFull:
		s.licence = licFull
	case x < ShareLicenceFull+ShareLicenceNone:
		s.licence = licNone
	case x < ShareLicenceFull+ShareLicenceNone+ShareLicenceBadUSCC:
		s.licence = licBadUSCC
	case s.cat == catFood:
		s.licence = licNoFoodPermit
	default:
		s.licence = licFull
	}
	s.gbk = r.float() < ShareGBK
	late := r.float() < ShareLateMeta
	s.lateMeta = s.gbk && late
	s.items = r.between(MinItems, MaxItems)
	s.room = r.float() < ShareRoom
	return s, r
}

// shop is everything a storefront shows.
type shop struct {
	shape
	region     region
	brand      string
	name       string
	company    string
	uscc       string // as shown; wrong check character when licence is licBadUSCC
	address    string
	legalRep   string
	foodPermit string // shown on food shops unless licence is licNone or licNoFoodPermit
	icp        string // empty when not shown
	layout     int    // licence block markup: 0 <dl>, 1 <table>, 2 <p> lines
	blockTop   bool   // licence block above the product list
	intro      []string
	notice     string
	styleLen   int // bytes of inline style before a late meta tag
	host       string
	itemBase   int // product j sells items[(itemBase+j) % len(items)], so a shop's products differ
}

func (m *Market) shopAt(id int) shop {
	sh, r := m.shapeAt(id)
	s := shop{shape: sh}
	ci := &categories[s.cat]
	s.region = pick(&r, regions)
	b := pickN(&r, brandChars, 2)
	s.brand = string(b)
	s.name = s.brand + pick(&r, ci.shopSuffix)
	s.company = s.region.city + s.brand + ci.company + "有限公司"

	first17 := "91" + s.region.code + orgCode(&r)
	check, err := licence.USCCCheckChar(first17)
	if err != nil {
		panic("marketsim: generated credit code prefix is invalid: " + err.Error())
	}
	wrong := usccAlphabet[(strings.IndexByte(usccAlphabet, check)+1+r.intn(len(usccAlphabet)-1))%len(usccAlphabet)]
	if s.licence == licBadUSCC {
		check = wrong
	}
	s.uscc = first17 + string(check)

	s.address = fmt.Sprintf("%s%s%s%d号%d幢%d室", s.region.province, s.region.area, pick(&r, streets),
		r.between(1, 999), r.between(1, 20), r.between(1, 25)*100+r.between(1, 9))
	s.legalRep = personName(&r)
	permit := fmt.Sprintf("JY1%s%06d%d", s.region.code, r.intn(1000000), r.intn(10))
	if s.cat == catFood && s.licence != licNone && s.licence != licNoFoodPermit {
		s.foodPermit = permit
	}
	icp := fmt.Sprintf("%sICP备20%02d%04d号", s.region.icp, r.between(10, 25), r.intn(10000))
	if n := r.intn(6); n > 0 {
		icp += "-" + strconv.Itoa(n)
	}
	if s.licence != licNone {
		s.icp = icp
	}
	s.layout = r.intn(3)
	s.blockTop = r.intn(2) == 0
	s.intro = pickN(&r, introSentences, r.between(1, 2))
	s.notice = pick(&r, lookalikesStorefront)
	s.styleLen = r.between(2200, 3600)
	s.host = pick(&r, hostPrefix) + string(pick(&r, brandChars))
	s.itemBase = r.intn(len(ci.items))
	return s
}

// usccAlphabet is the GB 32100-2015 character set.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// orgCode draws a 9-character organisation code (GB 11714 shape: eight
// characters and a check character), the part of a credit code after the
// region. Half are all-digit codes of older registrations, half the "MA"
// codes issued since 2015.
func orgCode(r *rng) string {
	var c [9]byte
	if r.intn(2) == 0 {
		for i := range 8 {
			c[i] = '0' + byte(r.intn(10))
		}
	} else {
		c[0], c[1] = 'M', 'A'
		for i := 2; i < 8; i++ {
			c[i] = usccAlphabet[r.intn(len(usccAlphabet))]
		}
	}
	weights := [8]int{3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		v := int(c[i] - '0')
		if c[i] >= 'A' {
			v = int(c[i]-'A') + 10
		}
		sum += v * w
	}
	switch d := 11 - sum%11; d {
	case 10:
		c[8] = 'X'
	case 11:
		c[8] = '0'
	default:
		c[8] = '0' + byte(d)
	}
	return string(c[:])
}

func personName(r *rng) string {
	return pick(r, surnames) + pick(r, givenNames)
}

// shopExpect is the ground truth of a storefront.
func (s *shop) expect() []Expect {
	out := []Expect{}
	switch s.licence {
	case licNone:
		out = append(out, Expect{Rule: RuleBusinessInfoMissing})
		if s.cat == catFood {
			out = append(out, Expect{Rule: RuleFoodPermitMissing})
		}
		out = append(out, Expect{Rule: RuleICPMissing})
	case licBadUSCC:
		out = append(out, Expect{Rule: RuleUSCCInvalid, Match: s.uscc})
	case licNoFoodPermit:
		out = append(out, Expect{Rule: RuleFoodPermitMissing})
	}
	return out
}

// para is one paragraph, shelf claim or caption; ph is set when it carries
// a violating phrase.
type para struct {
	text string
	ph   *phrase
}

// product is everything a product page shows.
type product struct {
	brand  string
	title  string
	price  int // in fen
	item   item
	origin string
	paras  []para
}

func (m *Market) productAt(s *shop, j int) product {
	r := newRNG(m.seed, saltProduct, uint64(s.id), uint64(j))
	ci := &categories[s.cat]
	p := product{brand: s.brand, origin: s.region.province + s.region.city}
	p.item = ci.items[(s.itemBase+j)%len(ci.items)]
	p.title = s.brand + " " + pick(&r, ci.attrs) + p.item.name + " " + p.item.spec
	p.price = r.between(p.item.lo, p.item.hi)*100 + pick(&r, []int{0, 0, 90, 80, 50})

	for _, t := range pickN(&r, ci.sentences, r.between(2, 3)) {
		p.paras = append(p.paras, para{text: t})
	}
	looks := append(append([]string(nil), ci.lookalikes...), pickN(&r, lookalikesGeneral, r.between(1, 2))...)
	for _, t := range looks {
		at := r.intn(len(p.paras) + 1)
		p.paras = slices.Insert(p.paras, at, para{text: t})
	}
	p.paras = append(p.paras, para{text: pick(&r, closingSentences)})

	violates := r.float() < ShareProductViolating
	n := 1
	if r.float() < ShareTwoPhrases {
		n = 2
	}
	phs := pickN(&r, ci.violating, n)
	if violates {
		for _, ph := range phs {
			pp := para{text: fmt.Sprintf(pick(&r, violationWrappers), ph.text), ph: &ph}
			at := r.intn(len(p.paras)) // before the closing sentence
			p.paras = slices.Insert(p.paras, at, pp)
		}
	}
	return p
}

func expectOf(paras ...[]para) []Expect {
	out := []Expect{}
	for _, ps := range paras {
		for _, p := range ps {
			if p.ph != nil {
				out = append(out, Expect{Rule: p.ph.rule, Match: p.ph.match})
			}
		}
	}
	return out
}

// shelfItem is one product on a livestream room's shelf.
type shelfItem struct {
	name  string
	price int
	claim para
}

// room is everything a livestream room shows.
type room struct {
	title    string
	host     string
	viewers  int
	shelf    []shelfItem
	captions []para
	stamps   []int // seconds since the stream began, one per caption
}

func (m *Market) roomAt(s *shop) room {
	r := newRNG(m.seed, saltRoom, uint64(s.id), 0)
	ci := &categories[s.cat]
	rm := room{host: s.host, title: s.brand + ci.label + "直播间"}
	rm.viewers = r.between(30, 20000)
	for _, it := range pickN(&r, ci.items, r.between(3, 5)) {
		rm.shelf = append(rm.shelf, shelfItem{
			name:  s.brand + " " + it.name,
			price: r.between(it.lo, it.hi)*100 + pick(&r, []int{0, 90, 80}),
			claim: para{text: pick(&r, ci.claims)},
		})
	}
	pool := concatStrings(generalCaptions, ci.captions)
	for _, t := range pickN(&r, pool, r.between(4, 6)) {
		rm.captions = append(rm.captions, para{text: t})
	}
	looks := concatStrings(lookalikesGeneral, ci.lookalikes)
	for _, t := range pickN(&r, looks, r.between(1, 2)) {
		at := r.intn(len(rm.captions) + 1)
		rm.captions = slices.Insert(rm.captions, at, para{text: t})
	}

	violates := r.float() < ShareRoomViolating
	n := 1
	if r.float() < ShareTwoPhrases {
		n = 2
	}
	phs := pickN(&r, ci.violating, n)
	if violates {
		for _, ph := range phs {
			onShelf := r.intn(2) == 0
			at := r.intn(len(rm.shelf))
			if onShelf && rm.shelf[at].claim.ph == nil {
				// On the shelf: the claim is the phrase itself.
				rm.shelf[at].claim = para{text: ph.text, ph: &ph}
				continue
			}
			pp := para{text: fmt.Sprintf(pick(&r, violationWrappers), ph.text), ph: &ph}
			at = r.intn(len(rm.captions) + 1)
			rm.captions = slices.Insert(rm.captions, at, pp)
		}
	}
	t := r.between(60, 900)
	for range rm.captions {
		rm.stamps = append(rm.stamps, t)
		t += r.between(5, 40)
	}
	return rm
}

func (rm *room) expect() []Expect {
	claims := make([]para, len(rm.shelf))
	for i, it := range rm.shelf {
		claims[i] = it.claim
	}
	return expectOf(claims, rm.captions)
}

func concatStrings(a, b []string) []string {
	out := make([]string, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}
