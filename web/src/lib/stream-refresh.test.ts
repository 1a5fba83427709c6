import { afterEach, describe, expect, it } from 'vitest';
import { followAnswer, type Entry } from './stream';
import type { Question } from './api';

const q = 'b20f906c-0000-4000-8000-000000000000';
const entries: Entry[] = [
	{ type: 'first_chunk', id: '1-0', question_id: q, references: [] },
	{ type: 'text', id: '2-0', question_id: q, text: 'Hej ' },
	{ type: 'text', id: '3-0', question_id: q, text: 'på ' },
	{ type: 'text', id: '4-0', question_id: q, text: 'dig' },
	{ type: 'done', id: '5-0', question_id: q, usage: null }
];

/** A WebSocket stand-in: records its URL and what the client sent; the test pushes frames. */
class FakeSocket {
	static all: FakeSocket[] = [];
	sent: Record<string, string>[] = [];
	closed = false;
	onopen: (() => void) | null = null;
	onmessage: ((event: { data: string }) => void) | null = null;
	onerror: (() => void) | null = null;
	onclose: (() => void) | null = null;
	constructor(readonly url: string) {
		FakeSocket.all.push(this);
		setTimeout(() => this.onopen?.(), 0);
	}
	send(data: string) {
		this.sent.push(JSON.parse(data));
	}
	close() {
		if (this.closed) return;
		this.closed = true;
		setTimeout(() => this.onclose?.(), 0);
	}
	push(entry: Entry) {
		this.onmessage?.({ data: JSON.stringify(entry) });
	}
}

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const original = globalThis.WebSocket;
afterEach(() => {
	globalThis.WebSocket = original;
	FakeSocket.all = [];
});

describe('followAnswer and a refreshed access token', () => {
	it('reconnects with the new token and resumes after the last id, every word once', async () => {
		globalThis.WebSocket = FakeSocket as unknown as typeof WebSocket;
		let token = 'old';
		const listeners = new Set<() => void>();
		const done = followAnswer({
			questionId: q,
			websocketUrl: 'ws://test/live',
			token: () => token,
			onTokenRefresh: (l) => {
				listeners.add(l);
				return () => listeners.delete(l);
			},
			onUpdate: () => undefined,
			loadQuestion: async () => ({}) as Question
		});
		await tick();
		const first = FakeSocket.all[0];
		expect(first.url).toBe('ws://test/live?token=old');
		first.push(entries[0]);
		first.push(entries[1]);
		token = 'new';
		for (const l of [...listeners]) l(); // the session refreshed
		await tick(400); // the loop waits a moment before reconnecting
		expect(first.closed).toBe(true);
		const second = FakeSocket.all[1];
		expect(second.url).toBe('ws://test/live?token=new');
		expect(second.sent[0]).toEqual({ action: 'subscribe', question_id: q, last_id: '2-0' });
		for (const e of entries.slice(1)) second.push(e); // a replay from before the last id is skipped
		const state = await done;
		expect(state.text).toBe('Hej på dig');
		expect(listeners.size).toBe(0); // unsubscribed when the answer ended
	});
});

describe('followAnswer while Redis or Postgres is down', () => {
	it('waits retry_after on the same connection, then subscribes again after the last id', async () => {
		globalThis.WebSocket = FakeSocket as unknown as typeof WebSocket;
		const states: string[] = [];
		const done = followAnswer({
			questionId: q,
			websocketUrl: 'ws://test/live',
			token: () => 'tok',
			onUpdate: () => undefined,
			onConnection: (s) => states.push(s),
			loadQuestion: async () => ({}) as Question
		});
		await tick();
		const socket = FakeSocket.all[0];
		socket.push(entries[0]);
		socket.push(entries[1]);
		socket.push({ type: 'error', code: 'redis_unavailable', message: 'down', retry_after: 0.3, question_id: q } as Entry);
		await tick(150);
		expect(socket.sent.length).toBe(1); // not yet: it waits as long as asked
		expect(states.at(-1)).toBe('reconnecting');
		await tick(250);
		expect(socket.closed).toBe(false);
		expect(FakeSocket.all.length).toBe(1); // the same connection
		expect(socket.sent[1]).toEqual({ action: 'subscribe', question_id: q, last_id: '2-0' });
		for (const e of entries.slice(1)) socket.push(e);
		const state = await done;
		expect(state.text).toBe('Hej på dig');
		expect(state.outcome).toEqual({ kind: 'done' });
	});

	it('the SSE fallback waits Retry-After on a 503 and keeps polling until the answer ends', async () => {
		const originalFetch = globalThis.fetch;
		const calls: { at: number; lastId: string | null }[] = [];
		const start = Date.now();
		const body = (list: Entry[]) => list.map((e) => `id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`).join('');
		const replies = [
			() => new Response(body(entries.slice(0, 2)), { status: 200 }),
			() => new Response('{"code":"redis_unavailable"}', { status: 503, headers: { 'Retry-After': '0.4' } }),
			() => new Response(body(entries.slice(2)), { status: 200 })
		];
		globalThis.fetch = (async (_url: string, init: RequestInit) => {
			const headers = init.headers as Record<string, string>;
			calls.push({ at: Date.now() - start, lastId: headers['Last-Event-ID'] ?? null });
			return replies[calls.length - 1]();
		}) as typeof fetch;
		try {
			const state = await followAnswer({
				questionId: q,
				websocketUrl: 'ws://test/live',
				token: () => 'tok',
				maxSocketFailures: 0,
				onUpdate: () => undefined,
				loadQuestion: async () => ({}) as Question
			});
			expect(state.text).toBe('Hej på dig');
			expect(calls.map((c) => c.lastId)).toEqual([null, '2-0', '2-0']);
			expect(calls[2].at - calls[1].at).toBeGreaterThanOrEqual(380); // waited Retry-After
		} finally {
			globalThis.fetch = originalFetch;
		}
	});
});
