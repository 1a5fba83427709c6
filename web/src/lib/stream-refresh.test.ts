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
