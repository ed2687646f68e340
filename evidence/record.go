package evidence

import (
	"errors"
	"fmt"
	"strings"

	"shopwatch/rules/licence"
)

// RecordFile holds what the electronic data extraction record
// (电子数据提取笔录) of report.html states besides the capture itself: the
// case, the party, the place and the officers, as given at export. It is
// derived at export, not signed by the capture, and report.html is
// rendered from it and the capture's files.
const RecordFile = "extraction-record.json"

// ErrIncompleteRecord is returned when an extraction record for a case
// lacks what the record of a case must state.
var ErrIncompleteRecord = errors.New("incomplete extraction record")

// MinCaseOfficers is how many law-enforcement officers, each with the
// number of their enforcement certificate (执法证号), the record of a case
// names.
const MinCaseOfficers = 2

// CaseRecord is what the exporting office states in the extraction record.
// A record without a case number is not a case record, and the report
// says so.
type CaseRecord struct {
	CaseNo string `json:"case_no,omitempty"` // 案件编号
	Cause  string `json:"cause,omitempty"`   // 案由
	// Office and OfficeAddress name the law-enforcement office; with the
	// capturing host they are the place of extraction (提取地点).
	Office        string    `json:"office,omitempty"`
	OfficeAddress string    `json:"office_address,omitempty"`
	Officers      []Officer `json:"officers"`
	Party         Party     `json:"party"`
	// Storage says where the extracted data is kept (the evidence store),
	// for the record's statement on the storage medium.
	Storage string `json:"storage,omitempty"`
}

// Officer is one law-enforcement officer and the number of their
// enforcement certificate.
type Officer struct {
	Name   string `json:"name"`
	CertNo string `json:"cert_no"` // 执法证号
}

// String is "NAME（执法证号 NO）".
func (o Officer) String() string {
	if o.CertNo == "" {
		return o.Name
	}
	return o.Name + "（执法证号 " + o.CertNo + "）"
}

// ParseOfficer reads "NAME:NO" (the --officer flag's form; a full-width
// colon works too).
func ParseOfficer(s string) (Officer, error) {
	s = strings.Replace(s, "：", ":", 1)
	name, no, ok := strings.Cut(s, ":")
	o := Officer{Name: strings.TrimSpace(name), CertNo: strings.TrimSpace(no)}
	if !ok || o.Name == "" || o.CertNo == "" {
		return Officer{}, fmt.Errorf("officer %q: want NAME:NO (name, colon, enforcement certificate number)", s)
	}
	return o, nil
}

// Party is the party concerned (当事人): the operator of the shop.
type Party struct {
	Name     string `json:"name,omitempty"`     // 名称
	USCC     string `json:"uscc,omitempty"`     // 统一社会信用代码
	Address  string `json:"address,omitempty"`  // 住所
	Shop     string `json:"shop,omitempty"`     // the shop (店铺) as the page names it
	Platform string `json:"platform,omitempty"` // the marketplace, from the target's record
	// Source says where name and code come from: "page" (the licence
	// block in text.txt), "given" (at export) or "" (not found).
	Source string `json:"source,omitempty"`
}

// ForCase reports whether the record is the record of a case.
func (r *CaseRecord) ForCase() bool { return r != nil && r.CaseNo != "" }

// Check returns nil when the record states what it must: for a case, the
// case number and cause and at least MinCaseOfficers officers, each with
// a name and certificate number. Its error wraps ErrIncompleteRecord and
// names everything missing.
func (r *CaseRecord) Check() error {
	if r == nil || !r.ForCase() {
		return nil
	}
	var missing []string
	if strings.TrimSpace(r.Cause) == "" {
		missing = append(missing, "the cause (案由)")
	}
	complete := 0
	for _, o := range r.Officers {
		switch {
		case o.Name == "":
			missing = append(missing, fmt.Sprintf("the name of the officer with certificate %s", o.CertNo))
		case o.CertNo == "":
			missing = append(missing, fmt.Sprintf("the enforcement certificate number (执法证号) of %s", o.Name))
		default:
			complete++
		}
	}
	if complete < MinCaseOfficers {
		missing = append(missing, fmt.Sprintf("%d officers with enforcement certificate numbers (执法证号), %d given", MinCaseOfficers, complete))
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w for case %s: needs %s", ErrIncompleteRecord, r.CaseNo, strings.Join(missing, "; "))
	}
	return nil
}

// withParty returns a copy of the record whose party is completed from the
// capture: name, code and address from the licence block in the page text
// when not given, the shop from the page title.
func (r *CaseRecord) withParty(text []byte, title string) CaseRecord {
	c := *r
	c.Officers = append([]Officer(nil), r.Officers...)
	p := &c.Party
	if p.Name != "" || p.USCC != "" {
		if p.Source == "" {
			p.Source = "given"
		}
	} else if b := licence.ParseBlock(string(text)); b.Name != "" || b.USCC != "" {
		p.Name, p.USCC, p.Source = b.Name, b.USCC, "page"
		if p.Address == "" {
			p.Address = b.Address
		}
	}
	if p.Shop == "" {
		p.Shop = title
	}
	return c
}

func marshalRecord(r CaseRecord) ([]byte, error) {
	if r.Officers == nil {
		r.Officers = []Officer{}
	}
	b, err := marshalJSONFile(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", RecordFile, err)
	}
	return b, nil
}
