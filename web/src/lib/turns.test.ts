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
