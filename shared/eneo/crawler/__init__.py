"""The crawler adapter: fetching (politely, within bounds, only where the outbound rule permits), robots.txt,
sitemaps, URL canonicalisation and main-content extraction. No database: eneo.websites.crawl drives it."""
