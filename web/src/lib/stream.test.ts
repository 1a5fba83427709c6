import { describe, expect, it } from 'vitest';
import { compareIds, parseSse, Reassembly, type Entry } from './stream';
import type { Question } from './api';

const q = 'a10f906c-0000-4000-8000-000000000000';
const entries: Entry[] = [
	{ type: 'first_chunk', id: '1700000000000-0', question_id: q, references: [] },
	{ type: 'text', id: '1700000000000-1', question_id: q, text: 'Hej ' },
	{ type: 'text', id: '1700000000001-0', question_id: q, text: 'på ' },
	{ type: 'text', id: '1700000000010-0', question_id: q, text: 'dig' },
	{ type: 'done', id: '1700000000011-0', question_id: q, usage: null }
];

describe('compareIds', () => {
	it('orders by milliseconds, then sequence, numerically', () => {
		expect(compareIds('9-0', '10-0')).toBeLessThan(0);
		expect(compareIds('10-2', '10-10')).toBeLessThan(0);
		expect(compareIds('10-1', '10-1')).toBe(0);
		expect(compareIds('1796004920438-0', '0-0')).toBeGreaterThan(0);
	});
});

describe('Reassembly', () => {
	it('joins the text in order and ends on done', () => {
		const r = new Reassembly();
		for (const e of entries) r.accept(e);
		expect(r.text).toBe('Hej på dig');
		expect(r.outcome).toEqual({ kind: 'done' });
		expect(r.lastId).toBe('1700000000011-0');
	});

	it('a resume that replays entries (a replaced relay) adds nothing twice', () => {
		const r = new Reassembly();
		r.accept(entries[0]);
		r.accept(entries[1]);
		r.accept(entries[2]);
		// the connection drops; the new relay sends from an older id
		for (const e of entries.slice(1)) r.accept(e);
		expect(r.text).toBe('Hej på dig');
		expect(r.finished).toBe(true);
	});

	it('nothing after the terminal entry counts, and entries without id are not stream entries', () => {
		const r = new Reassembly();
		for (const e of entries) r.accept(e);
		expect(r.accept({ type: 'text', id: '1800000000000-0', text: 'late' })).toBe(false);
		expect(new Reassembly().accept({ type: 'error', code: 'question_not_found' })).toBe(false);
		expect(r.text).toBe('Hej på dig');
	});

	it("keeps a failed answer's part and its code", () => {
		const r = new Reassembly();
		r.accept(entries[1]);
		r.accept({ type: 'error', id: '1700000000002-0', code: 'provider_stream_interrupted', message: 'x', partial: true });
		expect(r.outcome).toEqual({ kind: 'error', code: 'provider_stream_interrupted', message: 'x', partial: true });
		expect(r.text).toBe('Hej ');
	});

	it('settles from the saved question when the stream is gone', () => {
		const r = new Reassembly();
		r.accept(entries[1]);
		r.settle({ status: 'completed', answer: 'Hej på dig', references: [] } as unknown as Question);
		expect(r.text).toBe('Hej på dig');
		expect(r.outcome.kind).toBe('done');
	});

	it('random drops and replays reassemble the exact answer', () => {
		const words = Array.from({ length: 200 }, (_, i) => `w${i} `);
		const all: Entry[] = words.map((text, i) => ({ type: 'text', id: `1700000000${String(i).padStart(3, '0')}-0`, text }));
		all.push({ type: 'done', id: '1700000001000-0' });
		const r = new Reassembly();
		let seed = 7;
		const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
		while (!r.finished) {
			// a connection resumes after lastId, delivers some entries, then drops; sometimes replays a few
			const from = all.findIndex((e) => compareIds(e.id!, r.lastId) > 0) - (rand() < 0.3 ? 3 : 0);
			const n = 1 + Math.floor(rand() * 15);
			for (const e of all.slice(Math.max(0, from), Math.max(0, from) + n)) r.accept(e);
		}
		expect(r.text).toBe(words.join(''));
	});
});

describe('parseSse', () => {
	it("reads one poll's entries and skips comments and retry lines", () => {
		const body =
			'retry: 250\n\n' +
			`id: 1-0\nevent: first_chunk\ndata: {"type":"first_chunk","id":"1-0","references":[]}\n\n` +
			`id: 1-1\nevent: text\ndata: {"type":"text","id":"1-1","text":"a\\nb"}\n\n` +
			': waiting for the answer\n\n';
		const got = parseSse(body);
		expect(got.map((e) => e.type)).toEqual(['first_chunk', 'text']);
		expect(got[1].text).toBe('a\nb');
	});
});
