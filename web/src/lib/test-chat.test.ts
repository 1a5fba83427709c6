import { afterEach, describe, expect, it } from 'vitest';
import type { Asked, AssistantDraft, Question } from './api';
import { TestChat } from './test-chat';
import { answer, FakeSocket, q1, q2 } from './testing/fake-socket';

const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
const original = globalThis.WebSocket;
const originalFetch = globalThis.fetch;
afterEach(() => {
	globalThis.WebSocket = original;
	globalThis.fetch = originalFetch;
	FakeSocket.all = [];
	FakeSocket.refuse = false;
});

interface Call { session: string | null; question: string; draft?: AssistantDraft }

/** The pane's API as the server would answer: each ask gets the next question id in one session. */
function pane(questions: string[], url = 'ws://test/live') {
	globalThis.WebSocket = FakeSocket as unknown as typeof WebSocket;
	const calls: Call[] = [];
	const api = {
		ask: async (_a: string, session: string | null, question: string, _k: string, draft?: AssistantDraft) => {
			calls.push({ session, question, draft });
			const id = questions.shift() ?? '';
			return { session_id: 's1', question: { id } as Question, stream: null } as Asked;
		},
		question: async () => ({}) as Question
	};
	const chat = new TestChat(api, () => (url ? { websocketUrl: url, token: () => 'tok', maxSocketFailures: 2 } : null));
	const ask = (text: string, draft?: AssistantDraft) => {
		const texts: string[] = [];
		const done = chat.ask({ assistantId: 'a', text, key: text, draft, onAsked: () => undefined,
			onUpdate: (s) => texts.push(s.text) });
		return { done, texts };
	};
	return { chat, calls, ask };
}

describe('TestChat: the editor test pane', () => {
	it('asks with each draft in one session and follows every answer on one WebSocket', async () => {
		const { chat, calls, ask } = pane([q1, q2]);
		const first = ask('Hej', { websites: ['w1'], groups: [] });
		await tick();
		expect(FakeSocket.all.length).toBe(1);
		for (const e of answer(q1, 100)) FakeSocket.all[0].push(e);
		expect((await first.done)?.text).toBe('Hej på dig');

		const second = ask('Och sen?', { websites: [] });
		await tick();
		expect(FakeSocket.all[0].sent.at(-1)).toEqual({ action: 'subscribe', question_id: q2 });
		for (const e of answer(q2, 200)) FakeSocket.all[0].push(e);
		expect((await second.done)?.text).toBe('Hej på dig');
		expect(FakeSocket.all.length).toBe(1); // the second answer waited for no new connection
		expect(calls).toEqual([
			{ session: null, question: 'Hej', draft: { websites: ['w1'], groups: [] } },
			{ session: 's1', question: 'Och sen?', draft: { websites: [] } }
		]);
		chat.close();
		expect(FakeSocket.all[0].closed).toBe(true);
	});

	it('warm() opens the socket while the question is typed', async () => {
		const { chat, ask } = pane([q1]);
		chat.warm();
		await tick();
		expect(FakeSocket.all.length).toBe(1);
		const asked = ask('Hej');
		await tick();
		expect(FakeSocket.all[0].sent).toEqual([{ action: 'subscribe', question_id: q1 }]);
		for (const e of answer(q1, 100)) FakeSocket.all[0].push(e);
		expect((await asked.done)?.text).toBe('Hej på dig');
		chat.close();
	});

	it('resumes an answer after a dropped connection, each word once', async () => {
		const { chat, ask } = pane([q1]);
		const asked = ask('Hej');
		await tick();
		const entries = answer(q1, 100);
		FakeSocket.all[0].push(entries[0]);
		FakeSocket.all[0].push(entries[1]);
		FakeSocket.all[0].drop();
		await tick(300);
		expect(FakeSocket.all[1].sent[0]).toEqual({ action: 'subscribe', question_id: q1, last_id: '101-0' });
		for (const e of entries) FakeSocket.all[1].push(e);
		expect((await asked.done)?.text).toBe('Hej på dig');
		expect(asked.texts.at(-1)).toBe('Hej på dig');
		chat.close();
	});

	it('reads the answer over SSE when the socket cannot be had', async () => {
		FakeSocket.refuse = true;
		globalThis.fetch = (async () => new Response(answer(q1, 100)
			.map((e) => `id: ${e.id}\ndata: ${JSON.stringify(e)}\n\n`).join(''))) as typeof fetch;
		const { chat, ask } = pane([q1]);
		expect((await ask('Hej').done)?.text).toBe('Hej på dig');
		chat.close();
	});

	it('a new assistant starts a new conversation and stops the answer being followed', async () => {
		const { chat, calls, ask } = pane([q1, q2]);
		const first = ask('Hej');
		await tick();
		FakeSocket.all[0].push(answer(q1, 100)[1]);
		chat.reset();
		expect((await first.done)?.finished).toBe(false);
		const second = ask('Hej igen');
		await tick();
		for (const e of answer(q2, 200)) FakeSocket.all[0].push(e);
		expect((await second.done)?.text).toBe('Hej på dig');
		expect(calls.map((c) => c.session)).toEqual([null, null]);
		chat.close();
	});
});
