import { afterEach, describe, expect, it } from 'vitest';
import { AnswerSocket } from './answer-socket';
import { answer, FakeSocket, q1, q2 } from './testing/fake-socket';
import type { Question } from './api';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const original = globalThis.WebSocket;
const originalFetch = globalThis.fetch;
afterEach(() => {
	globalThis.WebSocket = original;
	globalThis.fetch = originalFetch;
	FakeSocket.all = [];
	FakeSocket.refuse = false;
});

function page(extra: Partial<ConstructorParameters<typeof AnswerSocket>[0]> = {}) {
	globalThis.WebSocket = FakeSocket as unknown as typeof WebSocket;
	const states: string[] = [];
	const socket = new AnswerSocket({
		websocketUrl: 'ws://test/live',
		token: () => 'tok',
		onConnection: (s) => states.push(s),
		...extra
	});
	const follow = (questionId: string, signal?: AbortSignal) =>
		socket.follow({ questionId, onUpdate: () => undefined, loadQuestion: async () => ({}) as Question, signal });
	return { socket, follow, states };
}

describe('AnswerSocket: one WebSocket per chat page', () => {
	it('follows answer after answer on the one connection', async () => {
		const { socket, follow } = page();
		const first = follow(q1);
		await tick();
		expect(FakeSocket.all.length).toBe(1);
		const ws = FakeSocket.all[0];
		expect(ws.sent).toEqual([{ action: 'subscribe', question_id: q1 }]);
		for (const e of answer(q1, 100)) ws.push(e);
		expect((await first).text).toBe('Hej på dig');

		const second = follow(q2);
		await tick();
		expect(ws.sent[1]).toEqual({ action: 'subscribe', question_id: q2 });
		for (const e of answer(q2, 200)) ws.push(e);
		const state = await second;
		expect(state.text).toBe('Hej på dig');
		expect(state.outcome).toEqual({ kind: 'done' });
		expect(FakeSocket.all.length).toBe(1); // no new connection for the second answer
		expect(ws.closed).toBe(false);
		socket.close();
		expect(ws.closed).toBe(true);
	});

	it('warm() connects before the first answer, which then subscribes at once', async () => {
		const { follow, socket } = page();
		socket.warm();
		await tick();
		expect(FakeSocket.all.length).toBe(1);
		expect(FakeSocket.all[0].sent).toEqual([]);
		const done = follow(q1);
		expect(FakeSocket.all[0].sent).toEqual([{ action: 'subscribe', question_id: q1 }]); // no await: it is open
		for (const e of answer(q1, 100)) FakeSocket.all[0].push(e);
		expect((await done).text).toBe('Hej på dig');
		socket.close();
	});

	it("ignores a previous answer's late frames", async () => {
		const { follow, socket } = page();
		const controller = new AbortController();
		const first = follow(q1, controller.signal);
		await tick();
		const ws = FakeSocket.all[0];
		ws.push(answer(q1, 100)[1]);
		controller.abort(); // the user left that answer; its relay still sends a moment
		expect((await first).text).toBe('Hej ');
		const second = follow(q2);
		ws.push(answer(q1, 100)[2]);
		for (const e of answer(q2, 200)) ws.push(e);
		expect((await second).text).toBe('Hej på dig');
		socket.close();
	});

	it('reconnects after a drop and resumes after the last id, every word once', async () => {
		const { follow, states, socket } = page();
		const done = follow(q1);
		await tick();
		const entries = answer(q1, 100);
		const first = FakeSocket.all[0];
		first.push(entries[0]);
		first.push(entries[1]);
		first.drop();
		expect(states.at(-1)).toBe('reconnecting');
		await tick(300);
		const second = FakeSocket.all[1];
		expect(second.sent[0]).toEqual({ action: 'subscribe', question_id: q1, last_id: '101-0' });
		expect(states.at(-1)).toBe('open');
		for (const e of entries) second.push(e); // a replayed entry is skipped
		expect((await done).text).toBe('Hej på dig');

		const next = follow(q2); // the next answer uses the new connection
		expect(second.sent[1]).toEqual({ action: 'subscribe', question_id: q2 });
		for (const e of answer(q2, 200)) second.push(e);
		expect((await next).text).toBe('Hej på dig');
		expect(FakeSocket.all.length).toBe(2);
		socket.close();
	});

	it('an idle drop does not reconnect until the next answer', async () => {
		const { follow, socket } = page();
		socket.warm();
		await tick();
		FakeSocket.all[0].drop();
		await tick(600);
		expect(FakeSocket.all.length).toBe(1);
		const done = follow(q1);
		await tick();
		expect(FakeSocket.all.length).toBe(2);
		for (const e of answer(q1, 100)) FakeSocket.all[1].push(e);
		expect((await done).text).toBe('Hej på dig');
		socket.close();
	});

	it('a refreshed token reconnects with it and resumes', async () => {
		let token = 'old';
		const listeners = new Set<() => void>();
		const { follow, socket } = page({
			token: () => token,
			onTokenRefresh: (l) => {
				listeners.add(l);
				return () => listeners.delete(l);
			}
		});
		const done = follow(q1);
		await tick();
		const first = FakeSocket.all[0];
		expect(first.url).toBe('ws://test/live?token=old');
		first.push(answer(q1, 100)[1]);
		token = 'new';
		for (const l of [...listeners]) l();
		await tick();
		expect(first.closed).toBe(true);
		const second = FakeSocket.all[1];
		expect(second.url).toBe('ws://test/live?token=new');
		expect(second.sent[0]).toEqual({ action: 'subscribe', question_id: q1, last_id: '101-0' });
		for (const e of answer(q1, 100)) second.push(e);
		expect((await done).text).toBe('Hej på dig');
		socket.close();
		expect(listeners.size).toBe(0);
	});

	it('a second answer while one streams gets a connection of its own', async () => {
		const { follow, socket } = page();
		const first = follow(q1);
		await tick();
		const second = follow(q2);
		await tick();
		expect(FakeSocket.all.length).toBe(2);
		for (const e of answer(q2, 200)) FakeSocket.all[1].push(e);
		for (const e of answer(q1, 100)) FakeSocket.all[0].push(e);
		expect((await first).text).toBe('Hej på dig');
		expect((await second).text).toBe('Hej på dig');
		expect(FakeSocket.all[1].closed).toBe(true); // the extra one closes with its answer
		expect(FakeSocket.all[0].closed).toBe(false); // the page's stays
		socket.close();
	});

	it('waits retry_after on the same connection while Redis is down', async () => {
		const { follow, socket } = page();
		const done = follow(q1);
		await tick();
		const ws = FakeSocket.all[0];
		ws.push(answer(q1, 100)[1]);
		ws.push({ type: 'error', code: 'redis_unavailable', message: 'down', retry_after: 0.2, question_id: q1 });
		await tick(100);
		expect(ws.sent.length).toBe(1);
		await tick(150);
		expect(ws.sent[1]).toEqual({ action: 'subscribe', question_id: q1, last_id: '101-0' });
		for (const e of answer(q1, 100)) ws.push(e);
		expect((await done).text).toBe('Hej på dig');
		expect(FakeSocket.all.length).toBe(1);
		socket.close();
	});

	it('reads the answer over SSE when connections keep failing, and uses the socket again after', async () => {
		FakeSocket.refuse = true;
		const entries = answer(q1, 100);
		const lastIds: (string | null)[] = [];
		globalThis.fetch = (async (_url: string, init: RequestInit) => {
			lastIds.push((init.headers as Record<string, string>)['Last-Event-ID'] ?? null);
			return new Response(entries.map((e) => `id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`).join(''));
		}) as typeof fetch;
		const { follow, states, socket } = page({ maxSocketFailures: 2 });
		const state = await follow(q1);
		expect(state.text).toBe('Hej på dig');
		expect(states).toContain('sse');
		expect(lastIds).toEqual([null]);
		expect(FakeSocket.all.length).toBe(2);

		FakeSocket.refuse = false; // the network is back: the next answer tries the socket first
		const next = follow(q2);
		await tick();
		expect(FakeSocket.all.length).toBe(3);
		for (const e of answer(q2, 200)) FakeSocket.all[2].push(e);
		expect((await next).text).toBe('Hej på dig');
		socket.close();
	});

	it('a session ended by the server ends the answer and says so', async () => {
		let ended = 0;
		const { follow, socket } = page({ onSessionEnd: () => ended++ });
		const done = follow(q1);
		await tick();
		FakeSocket.all[0].push(answer(q1, 100)[1]);
		FakeSocket.all[0].push({ type: 'error', code: 'user_deactivated', message: 'x', question_id: q1 });
		const state = await done;
		expect(ended).toBe(1);
		expect(state.outcome).toMatchObject({ kind: 'error', code: 'user_deactivated', partial: true });
		socket.close();
	});
});
