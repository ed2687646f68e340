// Package rules judges page text against rule sets: advertising and
// licence-display law written as data, with its legal citations.
//
// Code here holds mechanisms only — normalisation, a multi-pattern
// automaton, regular expressions, context exceptions, the validators of
// package rules/licence, category detection — and no word lists. The words
// live in YAML: rule files, one per legal area (the built-in set is
// shopwatch/configs, directory rules), and the lexicon the normaliser, the
// category detector and claim rules read (configs/lexicon: traditional.yaml,
// variants.yaml, categories.yaml, and claims.yaml and diseases.yaml, the
// word lists rules name with lexicon: and {{name}}; diseases.yaml is
// generated from CC-CEDICT and THUOCL by rules/internal/diseasegen; a lexicon file
// over 4 MiB or malformed is refused naming its file and line).
//
// # Rule files
//
// A rule file is a YAML mapping:
//
//	version: 1                  # optional; only 1 is known
//	description: 广告用语       # optional
//	rules:
//	  - id: ad.absolute-term    # required; lower-case dotted words, unique across the set
//	    title: {zh: 使用绝对化用语, en: Absolute terms in advertising}   # both required
//	    category: advertising   # required; the rule's legal area
//	    law: 《中华人民共和国广告法》   # required
//	    article: 第九条          # required
//	    item: 第三项             # optional: paragraph or item
//	    also: [《中华人民共和国广告法》第十七条]   # optional further bases, full citations
//	    penalty: 《中华人民共和国广告法》第五十七条第一项   # required: the provision that sets the penalty
//	    severity: violation     # required: violation, review or info
//	    reason: 广告不得使用……   # optional; opens every finding's Reason
//	    applies_to:             # optional; an empty or missing list means all
//	      kinds: [storefront]   # storefront, product, livestream
//	      categories: [food]    # product categories, compared case-insensitively
//	      not_categories: [drug]  # categories the rule never judges
//	    type: terms             # terms, regex, require or code (uscc: code with validator uscc)
//	    scope: text             # terms only: text (default), images or links
//	    regions: [seller, footer, other]   # page regions judged; default by category (below)
//	    validator: uscc         # code only: uscc, uscc-org, regno, food-permit, food-production-permit, psb
//	    patterns: [最佳, 第一]  # literal text (terms, require; labels for code)
//	    lexicon: [diseases, diseases-std]   # terms: every word of these lexicon lists is a pattern too
//	    regex: ['ICP备\d+号']   # regular expressions (regex, require)
//	    exceptions:             # terms and regex
//	      - 第一次              # literal text that covers a match it contains
//	      - '{{health-functions}}'   # every word of a lexicon list as such text (words holding no pattern are skipped)
//	      - {after: '^(赏味|食用)', for: [最佳], note: 指南第六条第二项}
//	      - {clause: '(19|20)\d{2}年', note: …, refer: ad.claim-needs-proof}
//	    needs:                  # terms and regex: context a match needs to count
//	      - {clause: '{{effect-verbs}}', note: 疾病与功效用语同在一个分句}   # {{list}}: any word of a lexicon list
//	    unless: ['国妆特字']     # expressions: a page matching one is not judged by the rule
//	    yields_to: [licence.shown-as-image]   # drop this rule's findings when one of these fires
//	    defers_to: [ad.state-organ]   # drop a finding whose every place shares a clause with one of these rules' findings
//	    only_with: [licence.business-info-missing]   # keep them only when one of these fires
//	    enabled: false          # optional; a rule that is off until RuleSet.Enable names it
//	    window: 24              # code only: characters after a label searched for the code
//	    examples:               # required, both lists non-empty
//	      positive:             # texts the rule must raise a finding on
//	        - 全网最佳口碑
//	        - {text: ＮＯ．１爆款, match: ＮＯ．１, kind: product, category: food}
//	        - {text: 欢迎光临, html: '<img alt="营业执照">'}   # markup, for images and links rules
//	      negative:             # texts it must not
//	        - 最佳赏味期：开封后7天
//
// Unknown or repeated fields, missing required fields (the legal basis:
// law, article and penalty), unknown severities, types, scopes, validators
// or page kinds, unknown or repeated regions, bad or empty-matching regular expressions, duplicate ids,
// references (refer, yields_to, defers_to, only_with) to unknown rules, patterns that
// normalise to nothing, an exception that contains none of its rule's
// patterns, and examples that do not behave are all errors; loading
// reports every one of them, each naming file:line:column. Examples run
// when the set is loaded (unless Options.SkipExamples), with the example's
// kind and category defaulting to the first ones the rule applies to;
// RuleSet.RunExamples runs them on demand. The shopwatch rules lint and
// rules test commands are these two steps.
//
// # Normalisation and matching
//
// Text and literals are compared in the normal form described at
// Normalized: NFKC, lower case, traditional characters folded to
// simplified ones and look-alike characters to their plain forms (tables
// in configs/lexicon), invisible characters dropped, spaces and punctuation
// between CJK characters dropped (not across line breaks). Every
// normalised byte maps back to the original text, so a finding's Match is
// always the original characters (full-width ＮＯ．１, 最 佳, 頂級) and its
// Offset their byte offset in Input.Text.
//
// Each literal pattern of a terms rule also matches its evasion spellings,
// generated from the spellings table of configs/lexicon/variants.yaml
// (最佳 → zui佳, 第一 → di一, 弟一, 第1): more literals cost the automaton
// nothing per byte of text. A spelling inherits its pattern's literal
// exceptions with the spelling spliced in (第一次 covers di一次).
//
// All literal patterns of all rules, code labels and regex anchors form one
// byte-level Aho–Corasick automaton, a dense DFA over byte classes that
// scans long texts in four interleaved streams, so the text is scanned once
// whatever the number of patterns. A literal whose first (last) character
// is an ASCII letter or digit only matches where it does not continue an
// ASCII word, so NO.1 does not match in NO.12.
//
// Regular expressions run over the normalised text and are compiled
// case-insensitive. When every match of an expression must contain some
// literal (ICP备 in [浙…]ICP备\d+号, % in \d{1,3}%的用户), the automaton
// finds that literal and the expression only runs in a window around it;
// an unbounded part (\d+) is searched at most 256 bytes from the literal,
// so write bounded repeats ({1,6}) where you can. An expression without
// such a literal (a top-level alternation) whose matches are bounded runs
// only in windows around the literals one of which every match holds, and
// only where the window also holds a literal of each of its other parts.
// Expressions with ^, $, \b or an unbounded repeat run over the whole text
// when the page holds such a literal; write alternatives as separate
// entries.
//
// # Judging
//
//   - terms and regex: each occurrence is a candidate. First its rule's
//     needs are read, in the same windows as context exceptions: a
//     candidate whose context lacks one of them is dropped (a claim rule:
//     a disease named in the clause of an effect verb, 预防冠心病, counts;
//     one merely named, 冠心病是常见病, does not). Then its rule's
//     exceptions are tried in order. A text exception covers a candidate
//     when it occurs around it and contains the whole match (第一次 covers
//     第一; an exception never swallows a longer claim such as 全网第一). A
//     context exception reads the text around the match, not the page: the
//     clause before it (before), after it (after), the whole clause
//     (clause) or the whole sentence (sentence), bounded to 32 (clause) or
//     80 (sentence) characters each side; for limits it to some patterns.
//     A covered candidate is dropped — or, when the exception names a rule
//     with refer, reported under that rule instead (a ranking qualified by
//     time and place is lawful only with proof: ad.absolute-term refers it
//     to ad.claim-needs-proof, severity review). Then, per rule, the
//     longest match at the leftmost position wins and matches overlapping
//     it are dropped (全网第一 rather than 全网第一 and 第一). Then the
//     same matched text seen again on the page is one finding: its
//     Locations list up to MaxLocations places (offset, region, snippet)
//     and its Reason counts them.
//   - regions: Input.Regions (the crawler's shopwatch.Page.Regions) mark
//     the page regions of the text: title, description, specs
//     (specification and parameter tables and lists: 规格参数, 品牌：…
//     产地：…), price, seller, navigation, comments (users' reviews,
//     comments, ratings and chat), editorial (news and articles beside the
//     product, not the seller's), footer; the rest is other. A rule judges
//     only matches (and, for require rules, only the text) in its regions,
//     and images and links in them. A rule file that names no regions gets
//     AdvertisingRegions (title, description, specs, price, seller, other:
//     a specification is the seller's statement, so 功效：治疗失眠 there is
//     judged like any claim; not the site's navigation, the users'
//     comments, news and editorial content or the footer), or for category
//     licence LicenceRegions (everything but comments: the seller
//     information and footer where licences are usually shown, and
//     wherever else the seller or site shows one). Comments and editorial
//     text are judged only by rules that name them (regions: [comments]
//     for a rule meant for users' words or livestream chat); absolute-term
//     rules never do. Text without regions (a plain-text page, an example)
//     is all other, except that the examples of a rule that does not judge
//     other text are read as text of its first region. Findings carry the
//     region of their match.
//   - require: one finding with Offset -1 when none of the patterns occurs
//     and none of the expressions matches. Not judged on blank text.
//   - code: after each label, the validator finds its code within window
//     characters (18 characters for a credit code, 15 digits for a
//     registration number, JY/YB/SC and 14 digits for a food permit, the
//     digits of a 公网安备 number) and reports each code it rejects; Match
//     is the code.
//   - scope images and links: the rule's patterns are looked for in the
//     labels of Input.HTML's img elements (alt, title, file name) and a
//     elements (text, title). Findings have Offset -1 and no Match; the
//     Snippet describes the element. FollowLinks lists the links a links
//     rule recognises, for a caller that fetches the licence page behind
//     them.
//   - unless: a rule whose unless expression matches the page reports
//     nothing on it.
//   - defers_to keeps one claim from being reported twice: a finding of
//     the rule whose every place lies in a clause where a finding of a
//     named rule lies is dropped (政府接待 under ad.state-organ, not also
//     under the endorsement expression); a place in a clause of its own
//     keeps it whole.
//   - Last, yields_to and only_with relate rules on one page: a licence
//     shown only as an image makes licence.shown-as-image (review) speak
//     instead of licence.business-info-missing (violation).
//
// Every finding's Reason says what matched (and whether it was a variant
// spelling), which exceptions were considered or which one referred it,
// what its severity means (violation: the text alone shows the breach;
// review: lawful only with proof or facts the page does not show; info:
// noted) and which provision sets the penalty.
//
// # Categories
//
// Rules limited to product categories judge a page of that category only.
// The caller sets Input.Category (a target's configured category);
// DetectCategory guesses it from breadcrumbs, structured data, the title
// and the text when none is configured.
//
// # Quality and speed
//
// testdata/corpus holds a labelled corpus of marketplace sentences;
// TestCorpus reports precision and recall per legal area and fails below
// recall 0.95 or above a false-positive rate of 0.03. BenchmarkLiteralStage
// compares the automaton with Go regexp alternation and a strings.Index
// loop over the same literals; README.md beside this file records the
// figures.
package rules
