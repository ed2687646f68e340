// Package rules judges page text against rule sets: advertising and
// licence-display law written as data, with its legal citations.
//
// Code here holds mechanisms only — normalisation, a multi-pattern
// automaton, regular expressions, the USCC validator (package
// rules/licence) — and no word lists. The words live in YAML rule files,
// one per legal area; the built-in set is shopwatch/configs, directory
// rules.
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
//	    article: 第九条第三项    # optional
//	    also: [《中华人民共和国广告法》第十七条]   # optional further bases, full citations
//	    severity: violation     # required: violation, review or info
//	    reason: 广告不得使用……   # optional; opens every finding's Reason
//	    applies_to:             # optional; an empty or missing list means all
//	      kinds: [storefront]   # storefront, product, livestream
//	      categories: [food]    # product categories, compared case-insensitively
//	    type: terms             # terms, regex, require or uscc
//	    patterns: [最佳, 第一]  # literal text (terms, require; labels for uscc)
//	    regex: ['ICP备\d+号']   # regular expressions (regex, require)
//	    exceptions: [第一次]    # literal text (terms, regex)
//	    window: 24              # uscc only: characters after a label searched for the code
//	    examples:               # required, both lists non-empty
//	      positive:             # texts the rule must raise a finding on
//	        - 全网最佳口碑
//	        - {text: ＮＯ．１爆款, match: ＮＯ．１, kind: product, category: food}
//	      negative:             # texts it must not
//	        - 最佳赏味期：开封后7天
//
// Unknown or repeated fields, missing required fields, unknown severities,
// types or page kinds, bad or empty-matching regular expressions, duplicate
// ids, patterns that normalise to nothing, an exception that contains none
// of its rule's patterns, and examples that do not behave are all errors;
// LoadFS reports every one of them, each naming file:line:column.
// Examples run when the set is loaded, with the example's kind and category
// defaulting to the first ones the rule applies to.
//
// # Normalisation and matching
//
// Text and literals are compared in the normal form described at
// Normalized: NFKC, lower case, invisible characters dropped, spaces and
// punctuation between CJK characters dropped (not across line breaks).
// Every normalised byte maps back to the original text, so a finding's
// Match is always the original characters (full-width ＮＯ．１, 最 佳) and
// its Offset their byte offset in Input.Text.
//
// All literal patterns of all rules, uscc labels and regex anchors form one
// byte-level Aho–Corasick automaton, so the text is scanned once whatever
// the number of patterns. A literal whose first (last) character is an
// ASCII letter or digit only matches where it does not continue an ASCII
// word, so NO.1 does not match in NO.12.
//
// Regular expressions run over the normalised text and are compiled
// case-insensitive. When every match of an expression must contain some
// literal (ICP备 in [浙…]ICP备\d+号), the automaton finds that literal and
// the expression only runs in a window around it; an unbounded part (\d+)
// is searched at most 256 bytes from the literal. Expressions with ^, $,
// \b or a top-level alternation run over the whole text; write
// alternatives as separate entries.
//
// # Judging
//
//   - terms and regex: each occurrence is a candidate. A candidate is
//     dropped when one of the rule's exceptions occurs around it and
//     contains the whole match (第一次 covers 第一; an exception never
//     swallows a longer claim such as 全网第一). Then, per rule, the
//     longest match at the leftmost position wins and matches overlapping
//     it are dropped (全网第一 rather than 全网第一 and 第一). Then at most
//     MaxRepeats findings are kept per distinct normalised match text; the
//     last kept one's Reason counts the rest.
//   - require: one finding with Offset -1 when none of the patterns occurs
//     and none of the expressions matches. Not judged on blank text.
//   - uscc: after each label, the first run of exactly 18 ASCII letters and
//     digits starting within window characters is the code; a code that
//     fails licence.ValidateUSCC is a finding whose Match is the code.
//
// # Extending
//
// The pieces are meant to grow without a rewrite: a character-mapping table
// (traditional to simplified, look-alike characters) slots into the
// per-rune step of the normaliser, which already keeps offsets for 1:n
// mappings; variant tables (homophones, pinyin initials) expand into more
// literals, which cost the automaton nothing per byte of text; exceptions
// are already resolved per pattern, so guide-specific exceptions can attach
// to single patterns; new validators live beside the USCC one in
// rules/licence and get their own rule type.
//
// Input.HTML is carried for later rules that read markup; v1 rules read
// Input.Text only.
package rules
