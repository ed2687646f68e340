package crawler

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// benchPage is a storefront-sized page: about 20 KB of markup with Chinese
// text and 40 links.
func benchPage() []byte {
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8"><title>某某旗舰店 - 首页</title>`)
	b.WriteString(`<script>var cfg = {"shop": 1, "items": [1,2,3]};</script><style>.x{color:#333}</style></head><body>`)
	for i := range 40 {
		fmt.Fprintf(&b, `<div class="item"><a href="/shop/1/item/%d">商品%d</a><p>温和清洁 保湿补水，100%%纯棉，最佳赏味期：开封后7天。第一次使用请先阅读说明书。</p><span>¥%d.00</span></div>`, i, i, 100+i)
	}
	b.WriteString(`<footer>营业执照信息 企业名称：某某有限公司 统一社会信用代码：91330106MA27XXXX0X 浙ICP备12345678号-1</footer></body></html>`)
	return []byte(b.String())
}

func benchServer(b *testing.B) string {
	page := benchPage()
	s := serve(b, htmlHandler("text/html; charset=utf-8", page))
	b.SetBytes(int64(len(page)))
	return s.URL + "/shop/1/"
}

func pagesPerSecond(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pages/s")
}

// BenchmarkFetch is Fetcher.Fetch on loopback: colly, raw capture, charset
// decoding, text and link extraction.
func BenchmarkFetch(b *testing.B) {
	url := benchServer(b)
	f := newTestFetcher(b, Config{})
	ctx := context.Background()
	for b.Loop() {
		p, err := f.Fetch(ctx, url)
		if err != nil || len(p.Links) != 40 {
			b.Fatalf("Fetch: %v (%d links)", err, len(p.Links))
		}
	}
	pagesPerSecond(b)
}

// BenchmarkBareGET is the baseline: net/http GET and read the body.
func BenchmarkBareGET(b *testing.B) {
	url := benchServer(b)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	defer client.CloseIdleConnections()
	for b.Loop() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
	pagesPerSecond(b)
}

// BenchmarkFetchParallel and BenchmarkBareGETParallel run 8 goroutines
// per CPU against one host, with the fetcher allowed 16 requests on it.
func BenchmarkFetchParallel(b *testing.B) {
	url := benchServer(b)
	f := newTestFetcher(b, Config{PerHostParallel: 16, MaxParallel: 16})
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := f.Fetch(context.Background(), url); err != nil {
				b.Error(err)
				return
			}
		}
	})
	pagesPerSecond(b)
}

func BenchmarkBareGETParallel(b *testing.B) {
	url := benchServer(b)
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
		}
	})
	pagesPerSecond(b)
}

// BenchmarkDecodeTmall decodes the 760 KB Tmall page, whose charset is
// only declared 155 KB in.
func BenchmarkDecodeTmall(b *testing.B) {
	raw := realPage(b, "tmall.html")
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, cs, _, _, err := DecodeHTML(raw, "text/html"); err != nil || cs != "gb18030" {
			b.Fatal(cs, err)
		}
	}
}

func BenchmarkExtractTmall(b *testing.B) {
	h, _, _, _, err := DecodeHTML(realPage(b, "tmall.html"), "text/html")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(h)))
	for b.Loop() {
		ExtractText(h)
	}
}
