"""Scrapy side of the crawler comparison (bench/crawlers.sh).

Fetches every start URL and follows same-host links one level deep with the
same total and per-host limits as the other crawlers, keeps nothing, and
prints one JSON line: pages fetched, errors and seconds.
"""
import json
import os
import sys
import time
from urllib.parse import urlparse

import scrapy
from scrapy.crawler import CrawlerProcess


class MarketSpider(scrapy.Spider):
    name = "market"

    def __init__(self, urls_file, depth, **kw):
        super().__init__(**kw)
        with open(urls_file, encoding="utf-8") as f:
            self.start_urls = [line.strip() for line in f if line.strip()]
        self.max_depth = depth
        self.pages = 0
        self.errors = 0

    def start_requests(self):
        for u in self.start_urls:
            yield scrapy.Request(u, callback=self.parse, errback=self.failed, dont_filter=True,
                                 cb_kwargs={"level": 0})

    def parse(self, response, level):
        self.pages += 1
        if level >= self.max_depth:
            return
        host = urlparse(response.url).netloc
        for href in response.css("a::attr(href)").getall():
            u = response.urljoin(href)
            if urlparse(u).netloc == host:
                yield scrapy.Request(u, callback=self.parse, errback=self.failed, dont_filter=True,
                                     cb_kwargs={"level": level + 1})

    def failed(self, failure):
        self.errors += 1


def main():
    urls_file, total, per_host, depth = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    process = CrawlerProcess(settings={
        "CONCURRENT_REQUESTS": total,
        "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
        "DOWNLOAD_DELAY": 0,
        "ROBOTSTXT_OBEY": False,
        "COOKIES_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "RETRY_ENABLED": False,
        "LOG_LEVEL": os.environ.get("SCRAPY_LOG_LEVEL", "WARNING"),
        "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
    })
    crawler = process.create_crawler(MarketSpider)
    start = time.monotonic()
    process.crawl(crawler, urls_file=urls_file, depth=depth)
    process.start()
    spider = crawler.spider
    print(json.dumps({"crawler": "scrapy", "pages": spider.pages, "errors": spider.errors,
                      "seconds": time.monotonic() - start}))


if __name__ == "__main__":
    main()
