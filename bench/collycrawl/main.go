// Command collycrawl is the bare-colly baseline of the crawler comparison
// (bench/crawlers.sh): it fetches every start URL and follows same-host
// links one level deep, with the same total and per-host limits as the other
// crawlers, and does nothing else with the pages. It prints one JSON line:
// pages fetched, errors and seconds.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/gocolly/colly/v2"
)

func main() {
	starts := flag.String("urls", "", "file with one start URL per line")
	total := flag.Int("parallel", 16, "requests in flight in all")
	perHost := flag.Int("per-host", 4, "requests in flight per host")
	depth := flag.Int("depth", 1, "link levels to follow on the same host")
	flag.Parse()
	if err := run(*starts, *total, *perHost, *depth); err != nil {
		slog.Error("collycrawl", "err", err)
		os.Exit(1)
	}
}

func run(path string, total, perHost, depth int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("start urls: %w", err)
	}
	defer f.Close()
	var urls []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if u := sc.Text(); u != "" {
			urls = append(urls, u)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}

	c := colly.NewCollector(colly.Async(true), colly.MaxDepth(depth+1), colly.AllowURLRevisit())
	c.WithTransport(&http.Transport{MaxIdleConnsPerHost: perHost, MaxConnsPerHost: perHost})
	if err := c.Limit(&colly.LimitRule{DomainGlob: "*", Parallelism: perHost}); err != nil {
		return err
	}
	var pages, failed atomic.Int64
	sem := make(chan struct{}, total)
	c.OnRequest(func(*colly.Request) { sem <- struct{}{} })
	c.OnResponse(func(*colly.Response) { pages.Add(1); <-sem })
	c.OnError(func(_ *colly.Response, _ error) { failed.Add(1); <-sem })
	c.OnHTML("a[href]", func(e *colly.HTMLElement) {
		u := e.Request.AbsoluteURL(e.Attr("href"))
		if u == "" || e.Request.Depth > depth {
			return
		}
		if req, err := http.NewRequest(http.MethodGet, u, nil); err == nil && req.URL.Host == e.Request.URL.Host {
			_ = e.Request.Visit(u)
		}
	})
	start := time.Now()
	for _, u := range urls {
		if err := c.Visit(u); err != nil {
			failed.Add(1)
		}
	}
	c.Wait()
	secs := time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"crawler": "colly", "pages": pages.Load(), "errors": failed.Load(), "seconds": secs,
	})
}
