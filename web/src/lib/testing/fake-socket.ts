/** Test doubles shared by the answer-socket and test-pane tests: a WebSocket the test drives, and a whole
 * answer's stream entries. */
import type { Entry } from '../stream';

export const q1 = 'c30f906c-0000-4000-8000-000000000001';
export const q2 = 'c30f906c-0000-4000-8000-000000000002';
export const answer = (q: string, base: number): Entry[] => [
	{ type: 'first_chunk', id: `${base}-0`, question_id: q, references: [] },
	{ type: 'text', id: `${base + 1}-0`, question_id: q, text: 'Hej ' },
	{ type: 'text', id: `${base + 2}-0`, question_id: q, text: 'på ' },
	{ type: 'text', id: `${base + 3}-0`, question_id: q, text: 'dig' },
	{ type: 'done', id: `${base + 4}-0`, question_id: q, usage: null }
];

/** A WebSocket stand-in: records its URL and what the client sent; the test pushes frames or drops it. */
export class FakeSocket {
	static all: FakeSocket[] = [];
	static refuse = false; // connections fail before opening (a proxy without WebSockets)
	sent: Record<string, string>[] = [];
	closed = false;
	onopen: (() => void) | null = null;
	onmessage: ((event: { data: string }) => void) | null = null;
	onerror: (() => void) | null = null;
	onclose: (() => void) | null = null;
	constructor(readonly url: string) {
		FakeSocket.all.push(this);
		setTimeout(() => (FakeSocket.refuse ? this.drop() : this.onopen?.()), 0);
	}
	send(data: string) {
		this.sent.push(JSON.parse(data));
	}
	close() {
		if (this.closed) return;
		this.closed = true;
		setTimeout(() => this.onclose?.(), 0);
	}
	/** The server's side goes away. */
	drop() {
		this.closed = true;
		this.onclose?.();
	}
	push(entry: Entry | Record<string, unknown>) {
		this.onmessage?.({ data: JSON.stringify(entry) });
	}
}

