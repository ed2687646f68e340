package rules

import (
	"testing"

	"shopwatch"
)

// claimForm is a claim in one of its productive forms: a short text the
// rule must find (match, the original characters it reports) and a lawful
// look-alike it must leave alone.
type claimForm struct {
	rule, category string
	text, match    string
	lawful         string
}

// claimForms are the claim forms read from the dev side of the real-case
// corpus, each with the look-alike that keeps it from firing on lawful
// copy (testdata/corpus/real/README.md).
var claimForms = []claimForm{
	// A range of weight lost within a time (食品安全法§73, 广告法§28).
	{"ad.efficacy-guarantee", "food", "7天瘦5~10斤", "7天瘦5~10斤", "7天无理由退货，5~10斤装"},
	{"ad.efficacy-guarantee", "food", "一个月瘦16~30斤", "一个月瘦16~30斤", "一个月内发货，每箱16~30斤"},
	{"live.effect-testimonial", "food", "家人们，我瘦了5~8斤", "瘦了5~8斤", "宽松显瘦，100~150斤可穿"},
	// Effortless weight loss, two promises in a row.
	{"ad.efficacy-guarantee", "", "健康瘦身，不节食、不吃药、不手术", "不节食、不吃药", "术后不吃药会怎样？请遵医嘱"},
	// Weight loss and gut flora in free wording, on ordinary food.
	{"food.health-function-phrase", "food", "专门挑战各种减不下来的肥", "减不下来的肥", "营养成分表：脂肪 3.2克"},
	{"food.health-function-phrase", "food", "饭前一杯，燃烧脂肪", "燃烧脂肪", "低脂肪配方，饱腹感强"},
	{"food.health-function-phrase", "food", "保持肠内菌群平衡", "保持肠内菌群", "开封后请冷藏，保持口感"},
	// A disease with an outcome told of patients (广告法§17).
	{"ad.disease-claim", "food", "血栓瘫痪患者120天就可以生活自理了", "血栓", "为偏瘫老人提供生活自理能力训练"},
	// Money promised by pun or whatever the buyer does (广告法§25).
	{"ad.investment-guarantee", "finance", "投资升值钱景无限", "钱景", "市场前景广阔，投资须谨慎"},
	{"ad.investment-guarantee", "finance", "投资自用皆是赚", "皆是赚", "这些钱都是赚来的血汗钱，投资须谨慎"},
	// Figures to source (广告法§11).
	{"ad.unsourced-data", "", "效果显著，一般增产25%-35%", "增产25%", "氮磷钾总养分≥45%，增产增收"},
	{"ad.unsourced-data", "", "40公斤大于同等含量复合肥50-60公斤的肥效", "大于同等含量复合肥50-60公斤", "容量大于普通水杯，出门方便"},
	// Endorsements, lineage and state projects to verify (广告法§28).
	{"ad.unverifiable-credential", "", "德国驻广州总领事馆指定德语口腔服务机构", "领事馆指定", "签证须到领事馆办理，请提前预约"},
	{"ad.unverifiable-credential", "", "WTO公布的好水标准", "WTO公布", "世界卫生组织建议成人每日添加糖摄入不超过50克"},
	{"ad.unverifiable-credential", "food", "御医传人", "御医传人", "清宫剧里的御医形象"},
	{"ad.unverifiable-credential", "", "定期聘请世界知名音乐学院教授进行交流", "世界知名音乐学院教授", "世界知名景点 三日游"},
	{"ad.unverifiable-credential", "food", "一带一路签约项目", "一带一路签约项目", "一带一路沿线国家进口红酒"},
	{"ad.unverifiable-credential", "cosmetics", "《澳门风云3》(主演:刘德华) 携手助力品牌推广", "主演:刘德华) 携手助力", "电影《澳门风云3》主演：周润发、刘德华"},
	// Beauty wording outside the health-food catalogue (广告法§18).
	{"ad.health-food-function-wording", "healthfood", "美容养颜", "美容养颜", "保健功能：有助于改善黄褐斑"},
	{"ad.health-food-function-wording", "healthfood", "胶原蛋白肽粉 抗糖化 口服美容液", "抗糖化", "本品不具有美容养颜功能"},
	// Effect assertions in medical advertising (广告法§16).
	{"ad.medical-assertion", "medical", "进口瘦咬肌克星", "克星", "医生面诊评估咬肌情况"},
	{"ad.medical-assertion", "medical", "刺激胶原蛋白新生，退散色素", "刺激胶原蛋白新生", "医生面诊评估皮肤胶原蛋白流失情况"},
	// A reduction stated as an amount (明码标价和禁止价格欺诈规定§16).
	{"price.compared-price", "medical", "¥17940已优惠8060", "已优惠8060", "满300减30，优惠券可叠加"},
	// A user's outcome after a stretch of use (广告法§28).
	{"live.effect-testimonial", "cosmetics", "我用过，才去试了4套，现在头发是又密又黑", "试了4套，现在头发是又密又黑", "假发套又密又黑，戴上自然"},
	// Removal at the root, harm denied (广告法§17, 食品安全法§73).
	{"ad.disease-claim", "food", "三个月根除幽门螺杆菌", "幽门螺杆菌", "幽门螺杆菌检测请到医院"},
	{"ad.body-function-claim", "food", "低度微醺，不伤脾胃", "脾胃", "温和配方，不伤手"},
	// Appetite and fat absorption, weight loss in other words, on food.
	{"food.health-function-phrase", "food", "抑制食欲，轻松瘦", "抑制食欲", "开胃小菜，增进食欲"},
	// A local official as endorser (广告法§9).
	{"ad.state-organ-endorsement", "", "开着捷达跑，镇长都说好", "镇长都说好", "市长热线12345，投诉请拨打"},
	// Outcomes after a stretch of use (广告法§28).
	{"live.effect-testimonial", "food", "我妈吃了三个月，血压稳定了", "吃了三个月，血压稳定了", "用了3年，质量稳定，没出过问题"},
	// Events, space programmes, universities and test houses as endorsers (广告法§28, §11).
	{"ad.unverifiable-credential", "", "奥运会指定产品", "奥运会指定", "北京冬奥会开幕式观后感"},
	{"ad.unverifiable-credential", "", "哈佛大学研发", "大学研发", "大学生宿舍专用床帘"},
	{"ad.unverifiable-credential", "", "通过SGS检测", "SGS检测", "检测报告见详情页第三张图"},
	{"ad.unverifiable-credential", "", "医生都在用", "医生都在用", "请在医生指导下使用"},
	// Readings held steady and effects asserted on a disease (广告法§17).
	{"ad.body-function-claim", "", "磁疗床垫，调节血压", "血压", "血压计 测量稳定"},
	{"ad.body-function-claim", "", "排湿气，祛寒除湿", "湿气", "湿气重的地区请注意防潮"},
	{"ad.disease-claim", "", "对颈椎病有明显效果", "颈椎病", "颈椎病是常见病"},
	{"ad.disease-claim", "cosmetics", "修复屏障，告别红血丝", "红血丝", "红血丝肌肤使用前请先做皮肤测试"},
	{"food.health-function-phrase", "food", "控糖好帮手", "控糖好帮手", "0蔗糖，控糖人群可选"},
	// Rent promised to buyers (广告法§26), capital back within a time (§25).
	{"ad.realestate-return", "", "十年包租，每年返还租金", "包租", "电影里的包租婆"},
	{"ad.realestate-return", "", "首付5万，轻松当房东", "当房东", "房东直租，押一付三"},
	{"ad.investment-return-figure", "finance", "加盟三个月回本", "三个月回本", "回本周期因经营情况而异"},
	// Pass-or-refund classes and examiners teaching (广告法§24).
	{"ad.education-guarantee", "education", "签约班，考不上全额退费", "签约班", "课程开课前7日内可申请退费"},
	{"ad.education-result-claim", "education", "考不上全额退费", "考不上全额退费", "课程开课前7日内可申请退费"},
	{"ad.education-result-claim", "education", "考官亲自授课", "考官亲自授课", "模拟面试，由老师扮演面试官"},
	// Safety and permanence asserted in medical advertising (广告法§16).
	{"ad.medical-assertion", "medical", "术后无疤痕，效果持久", "无疤痕", "术后请遵医嘱定期复查"},
	// Titles abolished or unverifiable (广告法§28).
	{"ad.false-claim-marker", "", "国家免检产品", "国家免检", "进口商品须经海关检验检疫"},
	{"ad.unverifiable-credential", "", "315诚信单位", "315诚信", "3月15日前下单包邮"},
	// Efficacies a cosmetic may not claim without registration as special.
	{"cosmetics.special-claim", "cosmetics", "溶脂瘦身霜", "溶脂", "身体乳 滋润不黏腻"},
	{"ad.unverifiable-credential", "", "央视报道过的品牌", "央视报道", "今晚央视一套播放的电视剧同名小说"},
	// Symptoms gone within a time (广告法§16, §28).
	{"ad.efficacy-guarantee", "drug", "服用三天，症状全消", "三天，症状全消", "服用三天后请复诊"},
	// Toxins, bowels, illness kept away and cleverness on food (食品安全法§71, §73).
	{"food.health-function-phrase", "food", "这款酵素能清除体内垃圾", "清除体内垃圾", "膳食纤维有助于维持正常的肠道功能"},
	{"food.health-function-phrase", "food", "每天一勺，全家不生病", "不生病", "我对甜食一向不感冒，这款却很喜欢"},
	{"ad.disease-claim", "food", "天然植物精华，调理亚健康", "亚健康", "亚健康是一种状态"},
	// Superstition as a selling point (广告法§9).
	{"ad.superstition", "", "家中摆放可化煞旺运", "化煞", "旺季价格，运费另计"},
	// A disease name with a character masked (广告法§17).
	{"ad.disease-masked", "", "关某炎", "关某炎", "当事人关某炎于2023年开设网店"},
	{"ad.disease-masked", "", "家人们，前列x炎的看过来", "前列x炎", "相关炎症指标请遵医嘱复查"},
}

func TestClaimForms(t *testing.T) {
	rs := builtin(t)
	for _, c := range claimForms {
		fs := check(t, rs, Input{Kind: shopwatch.KindProduct, Category: c.category, Text: c.text})
		found := false
		for _, f := range fs {
			if f.Rule == c.rule && f.Match == c.match {
				found = true
			}
		}
		if !found {
			t.Errorf("%s on %q (category %q): %v, want %q", c.rule, c.text, c.category, hits(fs), c.match)
		}
		for _, f := range check(t, rs, Input{Kind: shopwatch.KindProduct, Category: c.category, Text: c.lawful}) {
			if f.Rule == c.rule {
				t.Errorf("%s fires on the lawful %q: %q", c.rule, c.lawful, f.Match)
			}
		}
	}
}

// Words that name a shop or flat make a page real estate even when 投资
// stands beside them, so the real-estate rules judge it (广告法§26).
func TestDetectRealEstateBesideInvestment(t *testing.T) {
	for text, want := range map[string]string{
		"疫情影响，投资商铺不靠谱，稳健投资、还看校园小房": "",
		"临街旺铺，一铺养三代":               "realestate",
		"基金理财，稳健投资":                "finance",
	} {
		if got := DetectCategory("", text, ""); got != want {
			t.Errorf("DetectCategory(%q) = %q, want %q", text, got, want)
		}
	}
	fs := check(t, builtin(t), Input{Kind: shopwatch.KindProduct, Text: "疫情影响，投资商铺不靠谱，稳健投资、还看校园小房"})
	if !containsRule(fs, "ad.realestate-return") {
		t.Errorf("投资商铺 … 稳健投资: %v, want ad.realestate-return", hits(fs))
	}
}

func containsRule(fs []shopwatch.Finding, rule string) bool {
	for _, f := range fs {
		if f.Rule == rule {
			return true
		}
	}
	return false
}
