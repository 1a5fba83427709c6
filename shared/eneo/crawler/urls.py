"""URLs as the crawler keys them: one spelling per page, and which ones belong to the site."""

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

URL_MAX = 2000
# Query parameters that name a visitor's path to a page, not another page.
TRACKING = ("utm_", "fbclid", "gclid", "mc_cid", "mc_eid")
FILE_SUFFIXES = (".pdf", ".docx", ".xlsx", ".pptx", ".txt", ".csv", ".md")


def canonical(url: str, base: str | None = None) -> str | None:
    """`url` (resolved against `base`) in canonical form: http(s) only, lower-case scheme and host, no default
    port, no fragment, no tracking parameters, `/` for an empty path. None for anything that is not a page."""
    try:
        joined = urljoin(base, url.strip()) if base else url.strip()
        parts = urlsplit(joined)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    netloc = host if port in (None, default) else f"{host}:{port}"
    if ":" in host:  # an IPv6 literal
        netloc = f"[{host}]" if port in (None, default) else f"[{host}]:{port}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not k.lower().startswith(TRACKING)])
    out = urlunsplit((parts.scheme, netloc, parts.path or "/", query, ""))
    return out if len(out) <= URL_MAX else None


def same_site(url: str, root: str) -> bool:
    """Same scheme-insensitive host and port as the website's start URL (`www.` is the same site)."""
    a, b = urlsplit(url), urlsplit(root)

    def host(parts: object) -> tuple[str, int | None]:
        name = (getattr(parts, "hostname", None) or "").removeprefix("www.")
        return name, getattr(parts, "port", None)

    return host(a) == host(b)


def is_file(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(FILE_SUFFIXES)
