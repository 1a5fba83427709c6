"""A fetched HTML page as the crawler keeps it: its main content (trafilatura: navigation, headers and footers
left out), its title, its canonical URL, and its links; sitemaps' URLs. lxml parses with entities off."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass, field

from lxml import etree, html

from eneo.crawler.urls import canonical


@dataclass
class Page:
    title: str | None
    text: str  # the main content, as plain text with Markdown-ish headings
    canonical: str | None
    links: list[str] = field(default_factory=list)  # canonical absolute URLs, in document order
    noindex: bool = False
    nofollow: bool = False


def parse_html(body: bytes, url: str, encoding: str | None = None) -> Page:
    """Links and canonical from the whole document; the text from trafilatura's main-content extraction."""
    import trafilatura

    if encoding is None:  # no charset in the headers: UTF-8 if the bytes are (lxml would assume Latin-1 without a
        with suppress(UnicodeDecodeError):  # <meta charset>), else what the page's own meta tag says
            body.decode("utf-8")
            encoding = "utf-8"
    try:
        doc = html.fromstring(body, parser=html.HTMLParser(encoding=encoding, no_network=True, remove_comments=True))
    except (etree.ParserError, ValueError):
        return Page(None, "", None)
    base = url
    if (href := doc.xpath("string(//base/@href)")):
        base = canonical(str(href), url) or url
    links: dict[str, None] = {}
    for a in doc.xpath("//a[@href]"):
        rel = (a.get("rel") or "").lower()
        if "nofollow" in rel.split():
            continue
        if (link := canonical(a.get("href", ""), base)) is not None:
            links.setdefault(link, None)
    canon = doc.xpath("string(//link[@rel='canonical']/@href)")
    robots = str(doc.xpath("string(//meta[translate(@name,'ROBTS','robts')='robots']/@content)")).lower()
    extracted = trafilatura.bare_extraction(doc, url=url, with_metadata=True, include_links=False,
                                            include_tables=True, include_comments=False, favor_recall=True)
    title = text = None
    if extracted is not None:
        title, text = getattr(extracted, "title", None), getattr(extracted, "text", None)
    if not title:
        title = str(doc.xpath("string(//title)")).strip() or None
    return Page(title=title[:500] if title else None, text=(text or "").strip(),
                canonical=canonical(str(canon), base) if canon else None, links=list(links),
                noindex="noindex" in robots, nofollow="nofollow" in robots)


def sitemap_urls(body: bytes) -> tuple[list[str], list[str]]:
    """(page URLs, nested sitemap URLs) of a sitemap or sitemap index; ([], []) if it is not one."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError:
        return [], []
    locs = [str(el.text).strip() for el in root.iter("{*}loc") if el.text]
    if etree.QName(root).localname == "sitemapindex":
        return [], locs
    return locs, []
