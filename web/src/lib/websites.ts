/** Websites as knowledge (docs/websites.md): crawled into a space, re-crawled on a schedule or on demand. */
import { request, type Page } from './api';

export type CrawlType = 'crawl' | 'sitemap';
export type UpdateInterval = 'never' | 'daily' | 'every_other_day' | 'weekly';
export const CRAWL_TYPES: readonly CrawlType[] = ['crawl', 'sitemap'];
export const INTERVALS: readonly UpdateInterval[] = ['never', 'daily', 'every_other_day', 'weekly'];
export type RunStatus = 'queued' | 'running' | 'complete' | 'failed';

export interface Website {
	id: string;
	space_id: string;
	name: string;
	url: string;
	crawl_type: CrawlType;
	update_interval: UpdateInterval;
	max_pages: number;
	max_depth: number;
	download_files: boolean;
	pages: number;
	pages_ready: number;
	paused: boolean;
	paused_reason: string | null;
	next_run_at: string | null;
	last_run_at: string | null;
}
export interface WebsiteFields {
	url: string;
	name?: string;
	crawl_type: CrawlType;
	update_interval: UpdateInterval;
	max_pages: number;
	max_depth: number;
	download_files: boolean;
}
export interface CrawlRun {
	id: string;
	website_id: string;
	status: RunStatus;
	trigger: string;
	pages_found: number;
	pages_fetched: number;
	pages_unchanged: number;
	pages_failed: number;
	pages_removed: number;
	failures: Record<string, number>;
	error: string | null;
	started_at: string | null;
	finished_at: string | null;
	created_at: string;
}

/** A run still moving: its counts change, so the screen reads it again. */
export const active = (run: CrawlRun): boolean => run.status === 'queued' || run.status === 'running';

/** A run's failures by reason, most first, as "reason: n" pairs. */
export function failureList(run: CrawlRun): [string, number][] {
	return Object.entries(run.failures).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

export const websites = {
	list: (space: string) => request<Page<Website>>('GET', `/api/v1/spaces/${space}/knowledge/websites/?limit=100`),
	create: (space: string, fields: WebsiteFields) =>
		request<Website>('POST', `/api/v1/spaces/${space}/knowledge/websites/`, fields),
	update: (id: string, fields: Partial<WebsiteFields> & { paused?: boolean }) =>
		request<Website>('PATCH', `/api/v1/websites/${id}/`, fields),
	remove: (id: string) => request<void>('DELETE', `/api/v1/websites/${id}/`),
	run: (id: string) => request<CrawlRun>('POST', `/api/v1/websites/${id}/run/`),
	runs: (id: string) => request<Page<CrawlRun>>('GET', `/api/v1/websites/${id}/runs/?limit=20`)
};
