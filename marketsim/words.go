package marketsim

// The generator's vocabulary. Everything a page says comes from these lists.
// Neutral words are chosen so that no advertising or medical term can form by
// accident: the only violating text on any page is a phrase from
// violatingPhrases, placed on purpose and recorded in the ground truth.

// Rule ids of the v1 rule catalogue that the ground truth names.
const (
	RuleAbsoluteTerm          = "ad.absolute-term"
	RuleMedicalClaimFood      = "ad.medical-claim-food"
	RuleMedicalClaimCosmetics = "ad.medical-claim-cosmetics"
	RuleBusinessInfoMissing   = "licence.business-info-missing"
	RuleUSCCInvalid           = "licence.uscc-invalid"
	RuleFoodPermitMissing     = "licence.food-permit-missing"
	RuleICPMissing            = "licence.icp-missing"
)

// phrase is a piece of violating advertising text and the part of it a rule
// must report.
type phrase struct {
	text  string // as written on the page
	match string // the substring the rule reports, original characters
	rule  string
}

var absolutePhrases = []phrase{
	{"全网最佳口碑", "最佳", RuleAbsoluteTerm},
	{"国家级品质", "国家级", RuleAbsoluteTerm},
	{"行业第一品牌", "第一", RuleAbsoluteTerm},
	{"顶级工艺", "顶级", RuleAbsoluteTerm},
	{"ＮＯ．１爆款", "ＮＯ．１", RuleAbsoluteTerm},
	{"最高级配方", "最高级", RuleAbsoluteTerm},
	{"唯一正品渠道", "唯一", RuleAbsoluteTerm},
}

var foodClaimPhrases = []phrase{
	{"坚持食用可治疗糖尿病", "治疗", RuleMedicalClaimFood},
	{"三天降血压", "降血压", RuleMedicalClaimFood},
	{"抗癌佳品", "抗癌", RuleMedicalClaimFood},
}

var cosmeticsClaimPhrases = []phrase{
	{"快速消炎祛痘", "消炎", RuleMedicalClaimCosmetics},
	{"药妆品质", "药妆", RuleMedicalClaimCosmetics},
	{"有效杀菌", "杀菌", RuleMedicalClaimCosmetics},
}

// Compliant look-alikes: text that resembles a violation and must never be
// reported.
var (
	lookalikesGeneral    = []string{"第一次使用请先阅读说明书", "最近更新：2026年", "最后一批现货"}
	lookalikesStorefront = []string{"最近更新：2026年", "最后一批现货"}
)

// category is a product category.
type category int

const (
	catFood category = iota
	catCosmetics
	catApparel
	catElectronics
	numCategories
)

// catInfo is the vocabulary of one product category.
type catInfo struct {
	id         string   // as in shopwatch.Target.Category
	label      string   // breadcrumb label
	company    string   // word in the company name
	shopSuffix []string // shop name endings
	items      []item
	attrs      []string
	sentences  []string // neutral description sentences
	lookalikes []string // compliant look-alikes always shown on its products
	claims     []string // neutral shelf claims in livestream rooms
	captions   []string // neutral host lines in livestream rooms
	violating  []phrase // phrases that violate on this category
}

type item struct {
	name     string
	spec     string
	lo, hi   int // price range in yuan
	specName string
}

var categories = [numCategories]catInfo{
	catFood: {
		id: "food", label: "食品", company: "食品",
		shopSuffix: []string{"食品旗舰店", "食品专营店", "土特产小店", "零食铺"},
		items: []item{
			{"高山绿茶", "250克罐装", 68, 198, "净含量"},
			{"手工挂面", "1千克", 15, 39, "净含量"},
			{"东北大米", "5千克", 39, 89, "净含量"},
			{"每日坚果", "30袋装", 79, 159, "规格"},
			{"新疆红枣", "500克", 25, 59, "净含量"},
			{"土蜂蜜", "500克瓶装", 49, 128, "净含量"},
			{"黑芝麻糊", "600克", 19, 45, "净含量"},
			{"即食燕麦片", "1千克", 22, 49, "净含量"},
			{"五香牛肉干", "200克", 35, 79, "净含量"},
		},
		attrs: []string{"原味", "家庭装", "礼盒装", "新季", "经典款"},
		sentences: []string{
			"原料产自合作农场，按标准流程加工。",
			"请置于阴凉干燥处保存，避免阳光直射。",
			"包装内含干燥剂，请勿食用。",
			"每批次产品均附检验报告。",
			"产品规格以实物为准。",
			"冲泡时建议使用八十度左右的热水。",
		},
		lookalikes: []string{"最佳赏味期：开封后7天", "本品不能代替药物治疗疾病"},
		claims:     []string{"现货速发", "买二送一", "产地直发", "顺丰包邮"},
		captions: []string{
			"这款是今年的新货，口感很清爽。",
			"大家可以看一下包装，密封做得很好。",
			"收到以后记得放在阴凉的地方。",
			"喜欢甜一点的可以选蜂蜜口味。",
		},
		violating: concat(absolutePhrases, foodClaimPhrases),
	},
	catCosmetics: {
		id: "cosmetics", label: "美妆护肤", company: "化妆品",
		shopSuffix: []string{"美妆旗舰店", "护肤专营店", "美妆小铺"},
		items: []item{
			{"氨基酸洁面乳", "120毫升", 39, 99, "容量"},
			{"保湿面霜", "50克", 89, 269, "净含量"},
			{"补水面膜", "10片装", 49, 129, "规格"},
			{"卸妆水", "400毫升", 39, 89, "容量"},
			{"护手霜", "3支装", 19, 49, "规格"},
			{"润唇膏", "4克", 15, 39, "净含量"},
			{"爽肤水", "200毫升", 59, 159, "容量"},
			{"身体乳", "250毫升", 45, 119, "容量"},
		},
		attrs: []string{"清爽型", "滋润型", "旅行装", "经典款"},
		sentences: []string{
			"质地轻薄，容易推开。",
			"使用前请在耳后做局部试用。",
			"避免接触眼部，如不慎入眼请用清水冲洗。",
			"请放置于儿童接触不到的地方。",
			"香味清淡，适合日常使用。",
		},
		lookalikes: []string{"第一步：清洁面部", "温和清洁 保湿补水"},
		claims:     []string{"下单送小样", "现货速发", "两件九折", "顺丰包邮"},
		captions: []string{
			"这个质地大家看一下，很好推开。",
			"我自己每天晚上都会用一下。",
			"油皮干皮都可以选清爽型。",
			"用之前记得先在耳后试一下。",
		},
		violating: concat(absolutePhrases, cosmeticsClaimPhrases),
	},
	catApparel: {
		id: "apparel", label: "服饰鞋包", company: "服饰",
		shopSuffix: []string{"服饰旗舰店", "女装店", "男装专营店", "童装小铺"},
		items: []item{
			{"纯棉短袖T恤", "白色 M码", 39, 99, "颜色尺码"},
			{"直筒牛仔裤", "蓝色 30码", 99, 259, "颜色尺码"},
			{"圆领羊毛衫", "灰色 L码", 159, 499, "颜色尺码"},
			{"碎花连衣裙", "米色 S码", 129, 359, "颜色尺码"},
			{"连帽卫衣", "黑色 XL码", 89, 229, "颜色尺码"},
			{"休闲衬衫", "浅蓝 L码", 79, 199, "颜色尺码"},
			{"轻薄羽绒服", "藏青 M码", 299, 799, "颜色尺码"},
			{"帆布鞋", "白色 39码", 59, 159, "颜色尺码"},
		},
		attrs: []string{"春季新款", "宽松版", "修身版", "基础款"},
		sentences: []string{
			"面料柔软，版型宽松。",
			"建议冷水手洗，不可漂白。",
			"尺码请参考详情页尺码表。",
			"颜色因显示器不同可能略有差异。",
			"平铺测量，误差一至二厘米属正常。",
		},
		lookalikes: []string{"100%纯棉"},
		claims:     []string{"现货速发", "运费险", "两件包邮", "可以试穿"},
		captions: []string{
			"我身高一米六五，穿的是M码。",
			"这个颜色上身很显气色。",
			"面料摸起来很软，大家放心。",
			"尺码拿不准的可以问客服。",
		},
		violating: absolutePhrases,
	},
	catElectronics: {
		id: "electronics", label: "数码家电", company: "电子科技",
		shopSuffix: []string{"数码旗舰店", "电器专营店", "数码配件店"},
		items: []item{
			{"蓝牙耳机", "白色", 99, 399, "颜色"},
			{"充电宝", "10000毫安时", 59, 159, "容量"},
			{"机械键盘", "87键", 159, 499, "规格"},
			{"无线鼠标", "黑色", 39, 129, "颜色"},
			{"智能手环", "标准版", 149, 399, "版本"},
			{"USB-C 数据线", "1米", 15, 49, "长度"},
			{"电热水壶", "1.7升", 79, 199, "容量"},
			{"LED 台灯", "暖光款", 99, 299, "款式"},
		},
		attrs: []string{"2026款", "标准版", "轻薄款", "白色款", "黑色款"},
		sentences: []string{
			"支持快速配对，连接稳定。",
			"整机保修一年，配件保修三个月。",
			"包装内含说明书与数据线。",
			"请使用原装充电器充电。",
			"工作温度零至四十摄氏度。",
		},
		lookalikes: []string{"一级能效"},
		claims:     []string{"现货速发", "以旧换新", "十二期免息", "顺丰包邮"},
		captions: []string{
			"这款充满电大概两个小时。",
			"大家看一下接口，是USB-C的。",
			"保修一年，有问题直接找客服。",
			"颜色有黑白两种可以选。",
		},
		violating: absolutePhrases,
	},
}

func concat(a, b []phrase) []phrase {
	out := make([]phrase, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}

// Sentences every category may use.
var (
	closingSentences = []string{
		"如有疑问请联系在线客服。",
		"七天无理由退换（定制商品除外）。",
		"下单后四十八小时内发货。",
	}
	violationWrappers = []string{"%s，欢迎选购。", "店长推荐：%s。", "%s，限时优惠中。", "买家都说%s。"}
	introSentences    = []string{
		"本店开业多年，坚持诚信经营。",
		"欢迎光临，全场支持七天无理由退换。",
		"工作日九点至二十一点有客服在线。",
		"所有商品均从厂家直接进货。",
		"收藏店铺可及时收到上新通知。",
	}
	generalCaptions = []string{
		"家人们晚上好，欢迎来到直播间。",
		"点击下方小黄车即可下单。",
		"今天的价格只在直播间有效。",
		"有问题可以在评论区留言。",
		"库存有限，喜欢的抓紧时间。",
		"新来的朋友点个关注。",
	}
)

// Names.
var (
	brandChars = []rune("禾源恒丰安和润青山林悦宜乐嘉雅素朴简然心木田晨星云溪橙麦暖棉舒")
	surnames   = []string{"王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林", "何", "郭", "马", "罗"}
	givenNames = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "霞", "平", "刚", "桂英", "喆", "堃", "彧", "祎", "珺"}
	hostPrefix = []string{"小", "阿", "大"}
	streets    = []string{"文三路", "建设路", "人民路", "解放路", "中山路", "科技路", "湖滨路", "新华路", "长江路", "和平路"}
)

// region is an administrative area a shop is registered in.
type region struct {
	code     string // 6-digit administrative division code
	province string // 浙江省, or 上海市 for a municipality
	area     string // 杭州市西湖区, 浦东新区 …
	city     string // short city name for company names
	icp      string // province character used in ICP filing numbers
}

var regions = []region{
	{"330106", "浙江省", "杭州市西湖区", "杭州", "浙"},
	{"330203", "浙江省", "宁波市海曙区", "宁波", "浙"},
	{"310115", "上海市", "浦东新区", "上海", "沪"},
	{"310104", "上海市", "徐汇区", "上海", "沪"},
	{"440305", "广东省", "深圳市南山区", "深圳", "粤"},
	{"440106", "广东省", "广州市天河区", "广州", "粤"},
	{"110105", "北京市", "朝阳区", "北京", "京"},
	{"110108", "北京市", "海淀区", "北京", "京"},
	{"320505", "江苏省", "苏州市虎丘区", "苏州", "苏"},
	{"320102", "江苏省", "南京市玄武区", "南京", "苏"},
	{"510107", "四川省", "成都市武侯区", "成都", "蜀"},
	{"420106", "湖北省", "武汉市武昌区", "武汉", "鄂"},
	{"350203", "福建省", "厦门市思明区", "厦门", "闽"},
	{"370102", "山东省", "济南市历下区", "济南", "鲁"},
	{"500103", "重庆市", "渝中区", "重庆", "渝"},
	{"610113", "陕西省", "西安市雁塔区", "西安", "陕"},
	{"430104", "湖南省", "长沙市岳麓区", "长沙", "湘"},
	{"530102", "云南省", "昆明市五华区", "昆明", "滇"},
}

// jurisdiction is the area named in targets: 浙江省杭州市西湖区, 上海市浦东新区.
func (r region) jurisdiction() string {
	return r.province + r.area
}
