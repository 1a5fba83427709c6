import { describe, expect, it } from 'vitest';
import { followDocuments, type StatusEvent } from './events';

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
});
