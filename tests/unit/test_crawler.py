"""The crawler adapter's pure parts: URL canonical forms, robots.txt, HTML and sitemap parsing, back-off."""

from datetime import timedelta

import pytest

from eneo.crawler.extract import parse_html, sitemap_urls
from eneo.crawler.robots import Robots
from eneo.crawler.urls import canonical, is_file, same_site
from eneo.websites.crawl import backoff

AGENT = "EneoCrawler/1.0 (+https://eneo.ai)"


@pytest.mark.parametrize(("url", "expected"), [
    ("HTTP://Example.ORG:80/a?b=1#frag", "http://example.org/a?b=1"),
    ("https://example.org:443", "https://example.org/"),
    ("https://example.org:8443/x", "https://example.org:8443/x"),
    ("https://example.org/x?utm_source=news&id=3&fbclid=1", "https://example.org/x?id=3"),
    ("mailto:info@example.org", None),
    ("javascript:alert(1)", None),
    ("ftp://example.org/", None),
    ("http:///nohost", None),
    ("http://[::1]:8080/a", "http://[::1]:8080/a"),
    ("https://example.org/" + "a" * 3000, None),
])
def test_canonical(url: str, expected: str | None) -> None:
    assert canonical(url) == expected


def test_relative_links_and_the_site() -> None:
    assert canonical("../b", "https://example.org/a/c") == "https://example.org/b"
    assert same_site("https://www.example.org/x", "http://example.org/")
    assert not same_site("https://example.org.evil.test/", "https://example.org/")
    assert not same_site("http://example.org:8080/", "http://example.org/")
    assert is_file("https://example.org/Riktlinjer.PDF") and not is_file("https://example.org/sida")


def test_robots_rules_delay_and_sitemaps() -> None:
    robots = Robots.parse("User-agent: other\nCrawl-delay: 9\nDisallow: /\n\nUser-agent: *\nDisallow: /intern/\n"
                          "Crawl-delay: 0.5\nSitemap: https://example.org/s.xml\n", AGENT)
    assert robots.allowed("https://example.org/sida") and not robots.allowed("https://example.org/intern/x")
    assert robots.crawl_delay() == 0.5 and robots.sitemaps() == ["https://example.org/s.xml"]
    own = Robots.parse("User-agent: EneoCrawler\nCrawl-delay: 2\n\nUser-agent: *\nCrawl-delay: 0.5\n", AGENT)
    assert own.crawl_delay() == 2.0
    assert not Robots.deny_all(AGENT).allowed("https://example.org/")
    everything = Robots.allow_all(AGENT)
    assert everything.allowed("https://example.org/intern/") and everything.crawl_delay() is None


def test_main_content_without_navigation_and_footer() -> None:
    html = ("<html><head><title>Bygglov | Exempelstad</title><link rel=canonical href='/bygglov'>"
            "<meta name=ROBOTS content='NOINDEX'></head><body><nav><a href='/a'>Meny</a> Startsida Kontakta oss</nav>"
            "<main><h1>Bygglov</h1><p>" + "Ett bygglov behövs för att bygga ett nytt hus i kommunen. " * 8 +
            "</p><a href='/b#x'>B</a><a rel=nofollow href='/c'>C</a><a href='mailto:x@y'>M</a></main>"
            "<footer>Stadshuset · Cookies · Telefon 000</footer></body></html>").encode()
    page = parse_html(html, "https://example.org/bygglov?utm_source=x")
    assert "Ett bygglov behövs" in page.text
    assert "Stadshuset" not in page.text and "Kontakta oss" not in page.text
    assert page.title == "Bygglov"
    assert page.canonical == "https://example.org/bygglov"
    assert page.links == ["https://example.org/a", "https://example.org/b"]  # no nofollow, no mailto
    assert page.noindex and not page.nofollow


def test_sitemaps_and_indexes_without_entities() -> None:
    urlset = (b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
              b"<url><loc> https://example.org/a </loc></url><url><loc>https://example.org/b</loc></url></urlset>")
    assert sitemap_urls(urlset) == (["https://example.org/a", "https://example.org/b"], [])
    index = (b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><sitemap><loc>'
             b"https://example.org/s1.xml</loc></sitemap></sitemapindex>")
    assert sitemap_urls(index) == ([], ["https://example.org/s1.xml"])
    xxe = (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
           b'<urlset><url><loc>&x;</loc></url></urlset>')
    assert all("root:" not in u for u in sitemap_urls(xxe)[0])
    assert sitemap_urls(b"<html>not a sitemap") == ([], [])


def test_the_charset_of_a_page() -> None:
    latin = "<html><head><meta charset=iso-8859-1></head><body><main><p>Förskola i Växjö.</p></main></body></html>"
    assert "Förskola i Växjö" in parse_html(latin.encode("latin-1"), "https://example.org/").text
    assert "Förskola i Växjö" in parse_html(latin.encode("utf-8").replace(b"iso-8859-1", b"utf-8"),
                                            "https://example.org/").text


def test_failed_runs_back_off_from_an_hour_to_a_day() -> None:
    assert [backoff(n) for n in (1, 2, 3, 5, 6, 10)] == [timedelta(hours=h) for h in (1, 2, 4, 16, 24, 24)]
