"""Websites as knowledge: crawled on a schedule into a collection of their own (see docs/websites.md)."""
