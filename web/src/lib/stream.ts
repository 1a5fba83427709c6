/** Following a streamed answer (docs/streaming.md): the WebSocket API first, resuming after the last entry
 * id on any drop; the SSE endpoint (read with fetch, which can send the credential) when the WebSocket
 * cannot be reached. `Reassembly` is the pure part: it applies entries in order, once each. */
import type { Question, Reference } from './api';

export interface Entry {
	type: string;
	id?: string;
	question_id?: string;
	text?: string;
	references?: Reference[];
	session_id?: string;
	model?: string;
	code?: string;
	message?: string;
	partial?: boolean;
	usage?: unknown;
	last_id?: string;
	retry_after?: number;
}

export type Outcome =
	| { kind: 'streaming' }
	| { kind: 'done' }
	| { kind: 'error'; code: string; message: string; partial: boolean };

/** Order of two stream ids `<ms>-<seq>`: negative, zero or positive. */
export function compareIds(a: string, b: string): number {
	const [am, as = '0'] = a.split('-');
	const [bm, bs = '0'] = b.split('-');
	const ms = BigInt(am) - BigInt(bm);
	if (ms !== 0n) return ms < 0n ? -1 : 1;
	const seq = BigInt(as) - BigInt(bs);
	return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

export class Reassembly {
	lastId = '0-0';
	text = '';
	references: Reference[] = [];
	outcome: Outcome = { kind: 'streaming' };

	get finished(): boolean {
		return this.outcome.kind !== 'streaming';
	}

	/** Apply one stream entry; false when it was skipped (already seen, or after the end). */
	accept(entry: Entry): boolean {
		if (!entry.id || this.finished) return false;
		if (compareIds(entry.id, this.lastId) <= 0) return false;
		this.lastId = entry.id;
		switch (entry.type) {
			case 'first_chunk':
				this.references = entry.references ?? [];
				break;
			case 'text':
				this.text += entry.text ?? '';
				break;
			case 'done':
				this.outcome = { kind: 'done' };
				break;
			case 'error':
				this.outcome = {
					kind: 'error',
					code: entry.code ?? 'internal_error',
					message: entry.message ?? '',
					partial: Boolean(entry.partial)
				};
				break;
		}
		return true;
	}

	/** Finish from the saved question (the stream expired, or the SSE endpoint said there is no more). */
	settle(saved: Question): void {
		if (this.finished) return;
		if (saved.status === 'completed') {
			this.text = saved.answer;
			this.references = saved.references;
			this.outcome = { kind: 'done' };
		} else if (saved.status === 'failed' || saved.status === 'cancelled') {
			this.text = saved.answer;
			this.references = saved.references;
			this.outcome = {
				kind: 'error',
				code: saved.error?.code ?? 'internal_error',
				message: saved.error?.message ?? '',
				partial: saved.partial
			};
		}
	}
}

/** Server-Sent Events of one poll's body: the entries, each from its `data:` line. */
export function parseSse(body: string): Entry[] {
	const entries: Entry[] = [];
	for (const block of body.split(/\r?\n\r?\n/)) {
		const data = block
			.split(/\r?\n/)
			.filter((line) => line.startsWith('data:'))
			.map((line) => line.slice(5).replace(/^ /, ''))
			.join('\n');
		if (!data) continue;
		try {
			entries.push(JSON.parse(data) as Entry);
		} catch {
			/* not an entry */
		}
	}
	return entries;
}

export interface FollowOptions {
	questionId: string;
	websocketUrl: string;
	token: () => string | null;
	onUpdate: (state: Reassembly) => void;
	onConnection?: (state: 'open' | 'reconnecting' | 'sse') => void;
	loadQuestion: (id: string) => Promise<Question>;
	onSessionEnd?: () => void;
	/** Subscribe to new access tokens: the open WebSocket closes and resumes (last id) with the new one. */
	onTokenRefresh?: (listener: () => void) => () => void;
	/** WebSocket connections that fail before any frame arrives, in a row, before SSE takes over. */
	maxSocketFailures?: number;
	signal?: AbortSignal;
}

const SESSION_CODES = new Set(['user_deactivated', 'tenant_suspended', 'api_key_revoked', 'api_key_expired', 'token_revoked']);
/** Redis or Postgres is down for a moment: the server says how long to wait before subscribing again. */
export const UNAVAILABLE_CODES = new Set(['redis_unavailable', 'database_unavailable']);

/** Seconds to wait that a refusal or a 503 asked for: its `retry_after` (or Retry-After), else 5, at most 60. */
export function retryDelayMs(seconds: unknown): number {
	const value = typeof seconds === 'string' ? Number(seconds) : seconds;
	const s = typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 5;
	return Math.min(s, 60) * 1000;
}

/** Follow an answer to its end; resolves with the reassembled answer. */
export async function followAnswer(options: FollowOptions): Promise<Reassembly> {
	const state = new Reassembly();
	const maxFailures = options.maxSocketFailures ?? 3;
	let failures = 0;
	while (!state.finished && !options.signal?.aborted) {
		if (failures >= maxFailures) {
			options.onConnection?.('sse');
			await followSse(state, options);
			break;
		}
		const progressed = await followSocket(state, options);
		if (state.finished || options.signal?.aborted) break;
		failures = progressed ? 0 : failures + 1;
		options.onConnection?.('reconnecting');
		await sleep(Math.min(250 * 2 ** failures, 2000), options.signal);
	}
	return state;
}

/** One WebSocket connection: resolves when it closes or the answer ends; true if any frame arrived. */
function followSocket(state: Reassembly, options: FollowOptions): Promise<boolean> {
	return new Promise((resolve) => {
		const token = options.token();
		if (!token) {
			options.onSessionEnd?.();
			resolve(false);
			return;
		}
		let socket: WebSocket;
		try {
			socket = new WebSocket(`${options.websocketUrl}?token=${encodeURIComponent(token)}`);
		} catch {
			resolve(false);
			return;
		}
		let progressed = false;
		let settled = false;
		let retryTimer: ReturnType<typeof setTimeout> | null = null;
		const end = () => {
			if (settled) return;
			settled = true;
			if (retryTimer) clearTimeout(retryTimer);
			unsubscribe?.();
			options.signal?.removeEventListener('abort', abort);
			try {
				socket.close();
			} catch {
				/* already closed */
			}
			resolve(progressed);
		};
		const abort = () => end();
		options.signal?.addEventListener('abort', abort);
		// A refreshed token: reconnect with it (the loop resumes after the last id), counted as progress.
		const unsubscribe = options.onTokenRefresh?.(() => {
			progressed = true;
			end();
		});
		const subscribe = (lastId: string) => {
			const message: Record<string, string> = { action: 'subscribe', question_id: options.questionId };
			if (lastId !== '0-0') message.last_id = lastId;
			socket.send(JSON.stringify(message));
		};
		socket.onopen = () => {
			options.onConnection?.('open');
			subscribe(state.lastId);
		};
		socket.onmessage = async (event) => {
			let frame: Entry & { message?: string };
			try {
				frame = JSON.parse(String(event.data));
			} catch {
				return;
			}
			progressed = true;
			if (frame.type === undefined) {
				// API Gateway's own notices: only a failed relay needs a new subscribe.
				if (frame.message === 'Internal server error') subscribe(state.lastId);
				return;
			}
			if (frame.type === 'resubscribe') {
				subscribe(frame.last_id ?? state.lastId);
				return;
			}
			if (frame.type === 'error' && !frame.id && UNAVAILABLE_CODES.has(frame.code ?? '')) {
				// Redis or Postgres is down for a moment: the connection stays; subscribe again after the wait.
				options.onConnection?.('reconnecting');
				if (retryTimer) clearTimeout(retryTimer);
				retryTimer = setTimeout(() => {
					retryTimer = null;
					if (settled) return;
					subscribe(state.lastId);
					options.onConnection?.('open');
				}, retryDelayMs(frame.retry_after));
				return;
			}
			if (frame.type === 'error' && !frame.id) {
				await refusal(frame.code ?? '', state, options);
				end();
				return;
			}
			if (state.accept(frame)) options.onUpdate(state);
			if (state.finished) end();
		};
		socket.onerror = () => end();
		socket.onclose = () => end();
	});
}

/** A refused subscribe: settle from the saved question, or end the session; other codes mean try a new connection. */
export async function refusal(
	code: string,
	state: Reassembly,
	options: Pick<FollowOptions, 'questionId' | 'loadQuestion' | 'onUpdate' | 'onSessionEnd'>
): Promise<void> {
	if (code === 'stream_expired' || code === 'question_not_found') {
		try {
			state.settle(await options.loadQuestion(options.questionId));
			options.onUpdate(state);
		} catch {
			/* the next attempt tells */
		}
	} else if (SESSION_CODES.has(code)) {
		options.onSessionEnd?.();
		state.outcome = { kind: 'error', code, message: code, partial: state.text.length > 0 };
		options.onUpdate(state);
	}
	// not_authenticated, invalid_message: a new connection tries again
}

/** The SSE endpoint, poll after poll, each resuming after the last id, until 204. */
export async function followSse(state: Reassembly, options: FollowOptions): Promise<void> {
	let failures = 0;
	while (!state.finished && !options.signal?.aborted) {
		const token = options.token();
		if (!token) {
			options.onSessionEnd?.();
			return;
		}
		let response: Response;
		try {
			response = await fetch(`/api/v1/questions/${options.questionId}/stream`, {
				headers: {
					Authorization: `Bearer ${token}`,
					Accept: 'text/event-stream',
					...(state.lastId !== '0-0' ? { 'Last-Event-ID': state.lastId } : {})
				},
				signal: options.signal
			});
		} catch {
			if (++failures > 20) return;
			await sleep(1000, options.signal);
			continue;
		}
		if (response.status === 204) {
			state.settle(await options.loadQuestion(options.questionId));
			options.onUpdate(state);
			return;
		}
		if (response.status === 401) {
			options.onSessionEnd?.();
			return;
		}
		if (response.status === 503) {
			// Redis or Postgres is down: wait as long as asked, for as long as it takes (nothing is lost).
			await sleep(retryDelayMs(response.headers.get('Retry-After')), options.signal);
			continue;
		}
		if (!response.ok) {
			if (++failures > 20) return;
			await sleep(1000, options.signal);
			continue;
		}
		failures = 0;
		let changed = false;
		for (const entry of parseSse(await response.text())) changed = state.accept(entry) || changed;
		if (changed) options.onUpdate(state);
		if (!state.finished) await sleep(250, options.signal);
	}
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
	return new Promise((resolve) => {
		const timer = setTimeout(resolve, ms);
		signal?.addEventListener('abort', () => {
			clearTimeout(timer);
			resolve();
		});
	});
}
