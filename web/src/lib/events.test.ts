import { describe, expect, it } from 'vitest';
import { followDocuments, followEvents, type StatusEvent } from './events';
import type { CrawlRun } from './websites';

/** A stand-in WebSocket the test drives: what the client sent, and frames or a close from the "server". */
class FakeSocket {
	sent: unknown[] = [];
	onopen: (() => void) | null = null;
	onmessage: ((m: { data: string }) => void) | null = null;
	onclose: (() => void) | null = null;
	constructor(readonly url: string) {}
	send(text: string) {
		this.sent.push(JSON.parse(text));
	}
	close() {
		this.onclose?.();
	}
	frame(value: unknown) {
		this.onmessage?.({ data: JSON.stringify(value) });
	}
}

const wait = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const status = (id: string, s: StatusEvent['status']): StatusEvent => ({
	id, group_id: 'g', title: id, status: s, error_code: null, error_message: null, chunks_total: 0, chunks_embedded: 0
});

describe('followDocuments', () => {
	it('subscribes, applies events, polls once per subscription and resumes after the last event id', async () => {
		const sockets: FakeSocket[] = [];
		const seen: string[] = [];
		let polls = 0;
		const follower = followDocuments({
			websocketUrl: 'ws://x/live', token: () => 'tok', pollMs: 10,
			socket: (url) => { const s = new FakeSocket(url); sockets.push(s); return s as unknown as WebSocket; },
			onStatus: (e) => seen.push(`${e.id}:${e.status}`),
			poll: async () => { polls++; }
		});
		const first = sockets[0];
		expect(first.url).toBe('ws://x/live?token=tok');
		first.onopen?.();
		expect(first.sent).toEqual([{ action: 'subscribe_events' }]);
		first.frame({ type: 'subscribed', stream: 'events', last_id: '5-0' });
		expect(polls).toBe(1); // what changed before the subscription is read over HTTP
		first.frame({ type: 'info_blob.status', id: '6-0', data: status('a', 'processing') });
		first.frame({ message: 'Endpoint request timed out' }); // API Gateway's notice: ignored
		first.frame({ type: 'info_blob.status', id: '7-0', data: status('a', 'ready') });
		expect(seen).toEqual(['a:processing', 'a:ready']);

		first.close(); // dropped: a new connection resumes after 7-0
		await wait(400);
		expect(sockets.length).toBe(2);
		sockets[1].onopen?.();
		expect(sockets[1].sent).toEqual([{ action: 'subscribe_events', last_id: '7-0' }]);
		sockets[1].frame({ type: 'resubscribe', stream: 'events', last_id: '9-0' });
		expect(sockets[1].sent.at(-1)).toEqual({ action: 'subscribe_events', last_id: '9-0' });
		follower.close();
	});

	it('polls when sockets keep failing', async () => {
		let polls = 0;
		const modes: string[] = [];
		const follower = followDocuments({
			websocketUrl: 'ws://x/live', token: () => 'tok', pollMs: 5, maxSocketFailures: 2,
			socket: (url) => { const s = new FakeSocket(url); setTimeout(() => s.close(), 0); return s as unknown as WebSocket; },
			onStatus: () => undefined,
			poll: async () => { polls++; },
			onMode: (m) => modes.push(m)
		});
		await wait(1200);
		follower.close();
		expect(modes).toContain('polling');
		expect(polls).toBeGreaterThan(2);
		const after = polls;
		await wait(30);
		expect(polls).toBe(after); // closed: no more polling
	});

	it('waits retry_after when Redis or Postgres is down, then subscribes again on the same connection from the last event', async () => {
		const sockets: FakeSocket[] = [];
		const seen: string[] = [];
		const follower = followDocuments({
			websocketUrl: 'ws://x/live', token: () => 'tok', pollMs: 10,
			socket: (url) => { const s = new FakeSocket(url); sockets.push(s); return s as unknown as WebSocket; },
			onStatus: (e) => seen.push(`${e.id}:${e.status}`),
			poll: async () => undefined
		});
		const socket = sockets[0];
		socket.onopen?.();
		socket.frame({ type: 'subscribed', stream: 'events', last_id: '5-0' });
		socket.frame({ type: 'info_blob.status', id: '6-0', data: status('a', 'processing') });
		socket.frame({ type: 'error', code: 'database_unavailable', message: 'down', retry_after: 0.3, stream: 'events' });
		await wait(150);
		expect(socket.sent.length).toBe(1); // still waiting
		await wait(250);
		expect(sockets.length).toBe(1); // the same connection, not counted as a failure
		expect(socket.sent.at(-1)).toEqual({ action: 'subscribe_events', last_id: '6-0' });
		socket.frame({ type: 'subscribed', stream: 'events', last_id: '6-0' });
		socket.frame({ type: 'info_blob.status', id: '7-0', data: status('a', 'ready') });
		expect(seen).toEqual(['a:processing', 'a:ready']);
		follower.close();
	});

	it("hands crawl runs' progress to onRun, resuming after its id, and leaves documents alone", async () => {
		const sockets: FakeSocket[] = [];
		const runs: string[] = [];
		const follower = followEvents({
			websocketUrl: 'ws://x/live', token: () => 'tok', pollMs: 10,
			socket: (url) => { const s = new FakeSocket(url); sockets.push(s); return s as unknown as WebSocket; },
			onRun: (r) => runs.push(`${r.status}:${r.pages_found}/${r.pages_fetched}`),
			poll: async () => undefined
		});
		const run = (status: CrawlRun['status'], found: number, fetched: number): Partial<CrawlRun> =>
			({ id: 'r', website_id: 'w', status, pages_found: found, pages_fetched: fetched, pages_failed: 0, failures: {} });
		sockets[0].onopen?.();
		sockets[0].frame({ type: 'subscribed', stream: 'events', last_id: '1-0' });
		sockets[0].frame({ type: 'crawl_run.progress', id: '2-0', data: run('running', 3, 1) });
		sockets[0].frame({ type: 'info_blob.status', id: '3-0', data: status('a', 'ready') }); // no onStatus: skipped
		sockets[0].frame({ type: 'crawl_run.progress', id: '4-0', data: run('complete', 3, 3) });
		expect(runs).toEqual(['running:3/1', 'complete:3/3']);
		sockets[0].close();
		await wait(400);
		sockets[1].onopen?.();
		expect(sockets[1].sent).toEqual([{ action: 'subscribe_events', last_id: '4-0' }]);
		follower.close();
	});
});
