import { describe, expect, it } from 'vitest';
import { refreshLeadMs, REFRESH_PATH, LOGOUT_PATH, Session, type SessionDeps } from './session';

type Handler = (path: string, init: RequestInit) => Response | Promise<Response>;

const json = (status: number, body: unknown) =>
	new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
const tokens = (access: string, expiresIn = 900) =>
	json(200, { access_token: access, token_type: 'bearer', expires_in: expiresIn, refresh_token: null, refresh_expires_in: 1800 });
const problem = (status: number, code: string) => json(status, { code, message: code, details: [], request_id: 'r' });

/** A Session over a scripted server, a settable clock and timers we fire by hand. */
function harness(handler: Handler) {
	const calls: { path: string; auth: string | null }[] = [];
	const timers: { fn: () => void; at: number }[] = [];
	let now = 0;
	const deps: SessionDeps = {
		fetch: (async (input: RequestInfo | URL, init: RequestInit = {}) => {
			const path = String(input);
			const auth = (init.headers as Record<string, string> | undefined)?.Authorization ?? null;
			calls.push({ path, auth });
			return handler(path, init);
		}) as typeof fetch,
		now: () => now,
		setTimer: (fn, ms) => {
			const timer = { fn, at: now + ms };
			timers.push(timer);
			return timer;
		},
		clearTimer: (handle) => {
			const i = timers.indexOf(handle as (typeof timers)[number]);
			if (i >= 0) timers.splice(i, 1);
		}
	};
	const session = new Session(deps);
	const ended: number[] = [];
	session.onEnd(() => ended.push(now));
	return {
		session,
		calls,
		ended,
		timers,
		advance(ms: number) {
			now += ms;
			for (const t of timers.filter((t) => t.at <= now)) {
				timers.splice(timers.indexOf(t), 1);
				t.fn();
			}
		}
	};
}

const apiCalls = <T extends { path: string }>(calls: T[]) => calls.filter((c) => c.path.startsWith('/api/v1/things'));

describe('session refresh', () => {
	it('refreshes shortly before the access token expires', async () => {
		let n = 0;
		const h = harness((path) => (path === REFRESH_PATH ? tokens(`t${++n}`) : json(200, {})));
		h.session.accept({ access_token: 't0', expires_in: 900 });
		h.advance(900_000 - 61_000);
		expect(h.session.refreshes).toBe(0);
		h.advance(2_000); // 59 s before expiry
		await Promise.resolve();
		expect(h.session.refreshes).toBe(1);
		await new Promise((r) => setTimeout(r, 0));
		expect(h.session.current()).toBe('t1');
		expect(h.timers).toHaveLength(1); // the next renewal is scheduled
	});

	it('uses a quarter of a short token life as the lead', () => {
		expect(refreshLeadMs(900)).toBe(60_000);
		expect(refreshLeadMs(60)).toBe(15_000);
	});

	it('lets one refresh run at a time: concurrent callers share it', async () => {
		let release!: () => void;
		const gate = new Promise<void>((r) => (release = r));
		const h = harness(async (path) => {
			if (path === REFRESH_PATH) {
				await gate;
				return tokens('fresh');
			}
			return json(200, {});
		});
		const all = Promise.all([h.session.refresh(), h.session.refresh(), h.session.valid(), h.session.valid()]);
		release();
		expect(await all).toEqual(['fresh', 'fresh', 'fresh', 'fresh']);
		expect(h.session.refreshes).toBe(1);
		expect(h.calls.filter((c) => c.path === REFRESH_PATH)).toHaveLength(1);
	});

	it('on 401 token_expired refreshes once and retries the request once with the new token', async () => {
		const h = harness((path, init) => {
			if (path === REFRESH_PATH) return tokens('new');
			const auth = (init.headers as Record<string, string>).Authorization;
			return auth === 'Bearer new' ? json(200, { ok: true }) : problem(401, 'token_expired');
		});
		h.session.accept({ access_token: 'old', expires_in: 900 });
		// Three requests fail together: still one refresh, and each is retried once.
		const answers = await Promise.all([1, 2, 3].map(() => h.session.fetch('/api/v1/things/')));
		expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
		expect(h.session.refreshes).toBe(1);
		expect(apiCalls(h.calls).map((c) => c.auth)).toEqual([
			'Bearer old', 'Bearer old', 'Bearer old', 'Bearer new', 'Bearer new', 'Bearer new'
		]);
		expect(h.ended).toEqual([]);
	});

	it('retries only once: a second token_expired ends the session', async () => {
		const h = harness((path) => (path === REFRESH_PATH ? tokens('new') : problem(401, 'token_expired')));
		h.session.accept({ access_token: 'old', expires_in: 900 });
		const response = await h.session.fetch('/api/v1/things/');
		expect(response.status).toBe(401);
		expect(apiCalls(h.calls)).toHaveLength(2);
		expect(h.session.refreshes).toBe(1);
		expect(h.ended).toHaveLength(1);
		expect(h.session.signedIn).toBe(false);
	});

	for (const code of ['session_ended', 'invalid_refresh_token', 'refresh_token_reused']) {
		it(`a refresh refused with ${code} signs out (no retry)`, async () => {
			const h = harness((path) => (path === REFRESH_PATH ? problem(401, code) : problem(401, 'token_expired')));
			h.session.accept({ access_token: 'old', expires_in: 900 });
			const response = await h.session.fetch('/api/v1/things/');
			expect(response.status).toBe(401);
			expect(apiCalls(h.calls)).toHaveLength(1);
			expect(h.ended).toHaveLength(1);
			expect(h.session.current()).toBeNull();
		});
	}

	for (const code of ['session_ended', 'invalid_token', 'token_revoked']) {
		it(`a request refused with ${code} signs out without a refresh`, async () => {
			const h = harness(() => problem(401, code));
			h.session.accept({ access_token: 'old', expires_in: 900 });
			await h.session.fetch('/api/v1/things/');
			expect(h.session.refreshes).toBe(0);
			expect(h.ended).toHaveLength(1);
			expect(h.session.signedIn).toBe(false);
		});
	}

	it('a scheduled refresh refused (403 user_deactivated) ends the session', async () => {
		const h = harness(() => problem(403, 'user_deactivated'));
		h.session.accept({ access_token: 'old', expires_in: 60 });
		h.advance(46_000);
		await new Promise((r) => setTimeout(r, 0));
		expect(h.ended).toHaveLength(1);
		expect(h.session.signedIn).toBe(false);
	});

	it('a network error during refresh keeps the session (the next call tries again)', async () => {
		const h = harness(() => {
			throw new TypeError('offline');
		});
		h.session.accept({ access_token: 'old', expires_in: 900 });
		expect(await h.session.refresh()).toBeNull();
		expect(h.ended).toEqual([]);
		expect(h.session.current()).toBe('old');
	});

	it('page load: no token yet, the cookie refresh signs in; no cookie is not an "ended" session', async () => {
		const live = harness((path) => (path === REFRESH_PATH ? tokens('from-cookie') : json(200, {})));
		expect(await live.session.valid()).toBe('from-cookie');
		const none = harness(() => problem(401, 'invalid_refresh_token'));
		expect(await none.session.valid()).toBeNull();
		expect(none.ended).toEqual([]);
	});

	it('tells refresh listeners the new token (the WebSocket reconnects with it)', async () => {
		const h = harness(() => tokens('next'));
		const seen: string[] = [];
		const off = h.session.onRefresh((t) => seen.push(t));
		await h.session.refresh();
		off();
		await h.session.refresh();
		expect(seen).toEqual(['next']);
	});

	it('signs out at the server, then forgets the token', async () => {
		const h = harness(() => new Response(null, { status: 204 }));
		h.session.accept({ access_token: 'tok', expires_in: 900 });
		await h.session.signOut();
		expect(h.calls).toEqual([{ path: LOGOUT_PATH, auth: 'Bearer tok' }]);
		expect(h.session.signedIn).toBe(false);
		expect(h.timers).toHaveLength(0);
	});
});
