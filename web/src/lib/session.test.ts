import { beforeEach, describe, expect, it } from 'vitest';
import { currentToken, forgetToken, saveToken } from './session';

class MemoryStorage {
	data = new Map<string, string>();
	getItem = (k: string) => this.data.get(k) ?? null;
	setItem = (k: string, v: string) => void this.data.set(k, v);
	removeItem = (k: string) => void this.data.delete(k);
}

describe('session', () => {
	beforeEach(() => {
		(globalThis as unknown as { localStorage: MemoryStorage }).localStorage = new MemoryStorage();
	});

	it('keeps a token until shortly before it expires', () => {
		saveToken('abc', 3600, 0);
		expect(currentToken(1000)).toBe('abc');
		expect(currentToken(3600 * 1000 - 10_000)).toBeNull();
	});

	it('forgets', () => {
		saveToken('abc', 3600);
		forgetToken();
		expect(currentToken()).toBeNull();
	});
});
