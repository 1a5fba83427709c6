/** The signed-in user's credential: the one place that stores, reads and forgets it, so that a refresh
 * route (short-lived access tokens) changes only this module. Kept in localStorage with its expiry, so a
 * reload or a second tab stays signed in; an expired token counts as none. */

const KEY = 'eneo.session';
const SKEW_MS = 30_000; // treat a token as expired a little early: a request must not die in flight

export interface Credential {
	token: string;
	expiresAt: number; // ms since the epoch
}

function storage(): Storage | null {
	try {
		return typeof localStorage === 'undefined' ? null : localStorage;
	} catch {
		return null;
	}
}

export function saveToken(token: string, expiresInSeconds: number, now = Date.now()): void {
	const value: Credential = { token, expiresAt: now + expiresInSeconds * 1000 };
	storage()?.setItem(KEY, JSON.stringify(value));
}

export function currentToken(now = Date.now()): string | null {
	const raw = storage()?.getItem(KEY);
	if (!raw) return null;
	try {
		const value = JSON.parse(raw) as Credential;
		if (typeof value.token !== 'string' || value.expiresAt - SKEW_MS <= now) return null;
		return value.token;
	} catch {
		return null;
	}
}

export function forgetToken(): void {
	storage()?.removeItem(KEY);
}
