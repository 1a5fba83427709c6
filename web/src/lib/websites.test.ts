import { describe, expect, it } from 'vitest';
import { active, failureList, type CrawlRun } from './websites';

const run = (status: CrawlRun['status'], failures: Record<string, number> = {}): CrawlRun => ({
	id: 'r', website_id: 'w', status, trigger: 'manual', pages_found: 3, pages_fetched: 2, pages_unchanged: 0,
	pages_failed: 1, pages_removed: 0, failures, error: null, started_at: null, finished_at: null, created_at: ''
});

describe('crawl runs', () => {
	it('is active until it completes or fails', () => {
		expect(active(run('queued'))).toBe(true);
		expect(active(run('running'))).toBe(true);
		expect(active(run('complete'))).toBe(false);
		expect(active(run('failed'))).toBe(false);
	});
	it('lists failures most first, then by name', () => {
		expect(failureList(run('complete', { http_404: 1, timeout: 3, blocked: 1 }))).toEqual([
			['timeout', 3], ['blocked', 1], ['http_404', 1]]);
	});
});
