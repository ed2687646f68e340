package report

import (
	"errors"
	"html/template"
	"io"
	"time"

	"shopwatch"
)

// NoticeData is what a lead assignment notice (线索交办通知书) states.
type NoticeData struct {
	Office, Address string
	No              string // the notice's number
	Issued          time.Time
	IssuedBy        string // who handed the lead over
	Finding         shopwatch.Finding
	Target          shopwatch.Target
	Loc             *time.Location
}

var noticePage = template.Must(template.New("notice").Funcs(template.FuncMap{
	"at": func(t time.Time, loc *time.Location) string {
		if t.IsZero() {
			return "—"
		}
		return t.In(loc).Format("2006年01月02日 15:04")
	},
	"day": func(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006年01月02日") },
}).Parse(`<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>线索交办通知书 {{.No}}</title>
<style>
body{font-family:"Noto Serif CJK SC","Noto Sans CJK SC",serif;margin:2.5cm 2cm;line-height:1.7;color:#000}
h1{text-align:center;font-size:22pt;letter-spacing:.2em;margin-bottom:.2em}
.no{text-align:center;margin-top:0}
table{border-collapse:collapse;width:100%;margin:1em 0}
th,td{border:1px solid #000;padding:.35em .5em;text-align:left;vertical-align:top}
th{width:8em;background:#f2f2f2;font-weight:normal}
.sign{margin-top:3em;text-align:right}
</style></head><body>
<h1>线索交办通知书</h1>
<p class="no">编号：{{.No}}</p>
<p>{{.Finding.Lead.Jurisdiction}} {{.Finding.Lead.Assignee}}：</p>
<p>经网络交易监测发现以下涉嫌违法线索，现交由你单位核查处理，请于 <strong>{{day .Finding.Lead.Due .Loc}}</strong> 前将核查处理情况（立案、不予立案、首违不罚或责令整改）反馈交办单位。</p>
<table>
<tr><th>线索编号</th><td>{{.Finding.ID}}</td></tr>
<tr><th>监测对象</th><td>{{.Target.Platform}} {{.Target.URL}}（{{.Target.Jurisdiction}}）</td></tr>
<tr><th>违法网页</th><td>{{.Finding.URL}}</td></tr>
<tr><th>涉嫌问题</th><td>{{.Finding.Title}}（规则 {{.Finding.Rule}}）</td></tr>
<tr><th>法律依据</th><td>{{.Finding.Law}}{{.Finding.Article}}</td></tr>
<tr><th>违法内容</th><td>{{.Finding.Match}}<br><small>{{.Finding.Snippet}}</small></td></tr>
<tr><th>首次发现</th><td>{{at .Finding.FirstSeen .Loc}}</td></tr>
<tr><th>最近发现</th><td>{{at .Finding.LastSeen .Loc}}（共 {{.Finding.TimesSeen}} 次）</td></tr>
<tr><th>电子证据</th><td>{{range .Finding.EvidenceIDs}}{{.}}<br>{{else}}—{{end}}<small>证据包可用 shopwatch evidence export 导出并离线核验</small></td></tr>
<tr><th>办理期限</th><td>{{day .Finding.Lead.Due .Loc}}</td></tr>
</table>
<p class="sign">交办单位：{{.Office}}<br>{{if .Address}}地址：{{.Address}}<br>{{end}}交办人：{{.IssuedBy}}<br>{{day .Issued .Loc}}</p>
</body></html>
`))

// ErrNoLead: the finding was never handed over as a lead.
var ErrNoLead = errors.New("the finding was never handed over as a lead")

// WriteNotice writes the lead assignment notice of d's finding as HTML.
func WriteNotice(w io.Writer, d NoticeData) error {
	if d.Finding.Lead == nil {
		return ErrNoLead
	}
	if d.Loc == nil {
		d.Loc = time.UTC
	}
	if d.IssuedBy == "" || d.Issued.IsZero() {
		for _, r := range d.Finding.Reviews {
			if r.To == shopwatch.StageLead {
				d.IssuedBy, d.Issued = r.By, r.At
			}
		}
	}
	if d.No == "" {
		d.No = d.Finding.ID + "-" + d.Issued.In(d.Loc).Format("20060102")
	}
	return noticePage.Execute(w, d)
}
