import { describe, expect, it } from 'vitest';
import { dictionaries, errorText, pickLanguage, translate } from './i18n';

describe('i18n', () => {
	it('has every text in both languages', () => {
		expect(Object.keys(dictionaries.en).sort()).toEqual(Object.keys(dictionaries.sv).sort());
		for (const value of Object.values(dictionaries.en)) expect(value.length).toBeGreaterThan(0);
	});

	it('picks Swedish for a Swedish browser and when nothing matches, English for an English one', () => {
		expect(pickLanguage(null, ['sv-SE', 'en'])).toBe('sv');
		expect(pickLanguage(null, ['en-GB', 'sv'])).toBe('en');
		expect(pickLanguage(null, ['de-DE'])).toBe('sv');
		expect(pickLanguage('en', ['sv-SE'])).toBe('en');
	});

	it('fills parameters and words error codes', () => {
		expect(translate('en', 'chat.source', { n: 2, title: 'X' })).toBe('Source 2: X');
		expect(errorText('sv', 'invalid_credentials', 'Wrong e-mail or password')).toBe('Fel e-postadress eller lösenord.');
		expect(errorText('en', 'rate_limited', '', 42)).toContain('42 seconds');
		expect(errorText('en', 'something_new', 'Server says so')).toBe('Server says so');
	});
});
