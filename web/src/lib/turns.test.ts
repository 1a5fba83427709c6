import { describe, expect, it } from 'vitest';
import { matchesSearch } from './turns';

describe('matchesSearch', () => {
	it('matches every word, ignoring case and accents', () => {
		expect(matchesSearch('Bygglov för altan', 'altan BYGGLOV')).toBe(true);
		expect(matchesSearch('Färdtjänst i Umeå', 'umea fardtjanst')).toBe(true);
		expect(matchesSearch('Bygglov', 'skola')).toBe(false);
		expect(matchesSearch('anything', '  ')).toBe(true);
	});
});

describe('a stopped answer', () => {
	it('is a stopped turn, not a failed one, from the stream and from the saved question', async () => {
		const { Reassembly } = await import('./stream');
		const { statusOf, turnOf } = await import('./turns');
		const state = new Reassembly();
		state.accept({ type: 'first_chunk', id: '1-0', references: [] });
		state.accept({ type: 'text', id: '2-0', text: 'Det här hann ' });
		expect(statusOf(state.outcome)).toBe('streaming');
		state.accept({ type: 'error', id: '3-0', code: 'answer_cancelled', message: 'stopped', partial: true });
		expect(statusOf(state.outcome)).toBe('stopped');
		expect(state.text).toBe('Det här hann ');

		const failed = new Reassembly();
		failed.accept({ type: 'error', id: '1-0', code: 'provider_unavailable', message: 'down', partial: false });
		expect(statusOf(failed.outcome)).toBe('failed');

		const saved = {
			id: 'q', session_id: 's', question: 'Fråga', answer: 'Det här hann ', status: 'cancelled' as const,
			partial: true, error: { code: 'answer_cancelled', message: 'stopped' }, model: 'm', feedback: null,
			references: [], created_at: '', completed_at: null, usage: null
		};
		expect(turnOf(saved as never).status).toBe('stopped');
		const settled = new Reassembly();
		settled.settle(saved as never);
		expect(statusOf(settled.outcome)).toBe('stopped');
		expect(settled.text).toBe('Det här hann ');
	});
});
