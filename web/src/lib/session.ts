/** The signed-in user's session (docs/auth.md, "The web client"): the access token lives in memory only,
 * the refresh token in an HttpOnly cookie the page never sees. This module renews the access token shortly
 * before it expires and once on a `401 token_expired` (then retries the call once), lets one refresh run at
 * a time (callers share its promise), and tells listeners of each new token (the WebSocket reconnects
 * with it) and of the session's end (the page goes to sign-in). It has no SvelteKit import, so vitest
 * drives it with a fake fetch and clock. */

export const REFRESH_PATH = '/api/v1/users/login/refresh/';
export const LOGOUT_PATH = '/api/v1/users/logout/';

/** The token answer of login, refresh and password change (RFC 6749 5.1). */
export interface TokenAnswer {
	access_token: string;
	expires_in: number; // seconds
	refresh_token?: string | null; // null: it is in the cookie
	refresh_expires_in?: number;
}

/** 401 codes that mean the session is over: sign in again. `token_expired` is one only after the refresh
 * that follows it failed. */
export const SIGNED_OUT_CODES: ReadonlySet<string> = new Set([
	'invalid_token',
	'token_revoked',
	'session_ended',
	'invalid_refresh_token',
	'refresh_token_reused',
	'not_authenticated',
	'unauthorized'
]);
/** A refresh answered with one of these (403) also ends it: the account or the organisation is shut. */
const REFRESH_FORBIDDEN = new Set(['user_deactivated', 'tenant_suspended']);

/** The refresh lead: a minute before expiry, but never more than a quarter of a short token's life. */
export function refreshLeadMs(expiresInSeconds: number): number {
	return Math.min(60_000, (expiresInSeconds * 1000) / 4);
}

async function codeOf(response: Response): Promise<string> {
	try {
		const body = await response.clone().json();
		return typeof body?.code === 'string' ? body.code : `http_${response.status}`;
	} catch {
		return `http_${response.status}`;
	}
}

export interface SessionDeps {
	fetch: typeof fetch;
	now: () => number;
	setTimer: (fn: () => void, ms: number) => unknown;
	clearTimer: (handle: unknown) => void;
}

const defaultDeps = (): SessionDeps => ({
	fetch: (...args) => globalThis.fetch(...args),
	now: () => Date.now(),
	setTimer: (fn, ms) => setTimeout(fn, ms),
	clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>)
});

export class Session {
	private token: string | null = null;
	private expiresAt = 0;
	private timer: unknown = null;
	private inflight: Promise<string | null> | null = null;
	private readonly refreshed = new Set<(token: string) => void>();
	private readonly ended = new Set<() => void>();
	/** How many refresh requests were sent (tests: single flight). */
	refreshes = 0;

	constructor(private readonly deps: SessionDeps = defaultDeps()) {}

	/** Keep a token answer's access token and schedule its renewal. */
	accept(answer: TokenAnswer): void {
		this.token = answer.access_token;
		this.expiresAt = this.deps.now() + answer.expires_in * 1000;
		if (this.timer !== null) this.deps.clearTimer(this.timer);
		const wait = Math.max(0, answer.expires_in * 1000 - refreshLeadMs(answer.expires_in));
		this.timer = this.deps.setTimer(() => {
			this.timer = null;
			void this.refresh();
		}, wait);
		for (const listener of this.refreshed) listener(answer.access_token);
	}

	/** The access token if it is still valid, else null (no request: see `valid`). */
	current(): string | null {
		return this.token !== null && this.expiresAt > this.deps.now() ? this.token : null;
	}

	get signedIn(): boolean {
		return this.token !== null;
	}

	/** A valid access token: the one held, or a refreshed one (null: signed out). On page load this is the
	 * "try a refresh first" of docs/auth.md: a live cookie signs the user in. */
	async valid(): Promise<string | null> {
		return this.current() ?? (await this.refresh());
	}

	/** Renew the access token with the cookie. One at a time: a second caller gets the first's promise.
	 * Null when the session is over (after telling the `onEnd` listeners) or the server is unreachable. */
	refresh(): Promise<string | null> {
		this.inflight ??= this.doRefresh().finally(() => {
			this.inflight = null;
		});
		return this.inflight;
	}

	private async doRefresh(): Promise<string | null> {
		this.refreshes += 1;
		let response: Response;
		try {
			response = await this.deps.fetch(REFRESH_PATH, {
				method: 'POST',
				credentials: 'same-origin',
				headers: { Accept: 'application/json' }
			});
		} catch {
			return null; // offline: keep what we have; the next call tries again
		}
		if (response.ok) {
			const answer = (await response.json()) as TokenAnswer;
			this.accept(answer);
			return answer.access_token;
		}
		const code = await codeOf(response);
		const hadSession = this.token !== null;
		if (response.status === 401 || (response.status === 403 && REFRESH_FORBIDDEN.has(code))) {
			this.forget();
			if (hadSession) this.end();
		}
		return null;
	}

	/** A fetch with the access token: on `401 token_expired` one refresh and one retry; a signed-out code
	 * ends the session. The answer is returned as it came (the caller reads errors). */
	async fetch(path: string, init: RequestInit = {}): Promise<Response> {
		const send = (token: string | null) =>
			this.deps.fetch(path, {
				...init,
				headers: { ...(init.headers as Record<string, string>), ...(token ? { Authorization: `Bearer ${token}` } : {}) }
			});
		const before = await this.valid();
		let response = await send(before);
		if (response.status !== 401) return response;
		let code = await codeOf(response);
		if (code === 'token_expired') {
			// A refresh that finished while this request was out already gave a new token: use it.
			const renewed = this.current();
			const fresh = renewed !== null && renewed !== before ? renewed : await this.refresh();
			if (fresh === null) return response;
			response = await send(fresh);
			if (response.status !== 401) return response;
			code = await codeOf(response);
		}
		if (SIGNED_OUT_CODES.has(code) || code === 'token_expired') {
			const hadSession = this.token !== null;
			this.forget();
			if (hadSession) this.end();
		}
		return response;
	}

	/** End the session at the server (the cookie goes with the request), then forget the token. */
	async signOut(): Promise<void> {
		const token = this.token;
		this.forget();
		try {
			await this.deps.fetch(LOGOUT_PATH, {
				method: 'POST',
				credentials: 'same-origin',
				headers: { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) }
			});
		} catch {
			/* unreachable: the token is forgotten; the cookie ends when idle */
		}
	}

	forget(): void {
		this.token = null;
		this.expiresAt = 0;
		if (this.timer !== null) this.deps.clearTimer(this.timer);
		this.timer = null;
	}

	private end(): void {
		for (const listener of this.ended) listener();
	}

	/** Called with each new access token (a WebSocket reconnects with it); returns the unsubscribe. */
	onRefresh(listener: (token: string) => void): () => void {
		this.refreshed.add(listener);
		return () => this.refreshed.delete(listener);
	}

	/** Called when the server says the session is over. */
	onEnd(listener: () => void): () => void {
		this.ended.add(listener);
		return () => this.ended.delete(listener);
	}
}

/** The page's one session. */
export const session = new Session();
