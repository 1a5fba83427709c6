/** Live status from the user's events stream over the WebSocket API (`subscribe_events`, resumed with
 * `last_id` after a drop or a `resubscribe`): documents' status (docs/knowledge.md) and crawl runs' progress
 * (docs/websites.md), and polling over HTTP when no socket can be had. Each (re)subscription also polls
 * once: events written before it (between a page load and its subscription) are not replayed, and HTTP is
 * always the truth. */
import type { Doc } from './knowledge';
import { retryDelayMs, UNAVAILABLE_CODES } from './stream';
import type { CrawlRun } from './websites';

export type StatusEvent = Pick<Doc, 'id' | 'group_id' | 'title' | 'status' | 'error_code' | 'error_message' | 'chunks_total' | 'chunks_embedded'>;

export interface FollowDocumentsOptions {
	websocketUrl: string;
	token: () => string | null;
	/** A document's status changed (`info_blob.status`). */
	onStatus?: (event: StatusEvent) => void;
	/** A crawl run this user started made progress or ended (`crawl_run.progress`). */
	onRun?: (run: CrawlRun) => void;
	/** Read the current state over HTTP (at each subscription, and on every tick while polling). */
	poll: () => Promise<void>;
	onMode?: (mode: 'live' | 'polling') => void;
	pollMs?: number;
	maxSocketFailures?: number;
	socket?: (url: string) => WebSocket; // for tests
}

export function followEvents(options: FollowDocumentsOptions): { close: () => void } {
	const pollMs = options.pollMs ?? 2000;
	const maxFailures = options.maxSocketFailures ?? 3;
	const open = options.socket ?? ((url: string) => new WebSocket(url));
	let closed = false;
	let failures = 0;
	let lastId: string | null = null;
	let socket: WebSocket | null = null;
	let timer: ReturnType<typeof setTimeout> | null = null;

	const later = (fn: () => void, ms: number) => {
		if (!closed) timer = setTimeout(fn, ms);
	};
	const polling = () => {
		if (closed) return;
		options.onMode?.('polling');
		void options.poll().catch(() => undefined).finally(() => later(polling, pollMs));
	};
	const connect = () => {
		const token = options.token();
		if (closed || !token) return;
		let progressed = false;
		let retryTimer: ReturnType<typeof setTimeout> | null = null;
		try {
			socket = open(`${options.websocketUrl}?token=${encodeURIComponent(token)}`);
		} catch {
			socket = null;
			failures++;
			failures >= maxFailures ? polling() : later(connect, 500 * failures);
			return;
		}
		const ws = socket;
		const subscribe = () => ws.send(JSON.stringify(lastId ? { action: 'subscribe_events', last_id: lastId } : { action: 'subscribe_events' }));
		ws.onopen = subscribe;
		ws.onmessage = (message) => {
			let frame: { type?: string; id?: string; last_id?: string; data?: unknown; message?: string; code?: string; retry_after?: number };
			try {
				frame = JSON.parse(String(message.data));
			} catch {
				return;
			}
			if (frame.type === undefined) {
				if (frame.message === 'Internal server error') subscribe(); // the relay failed: resume
				return;
			}
			if (frame.type === 'subscribed') {
				progressed = true;
				failures = 0;
				lastId = frame.last_id ?? lastId;
				options.onMode?.('live');
				void options.poll().catch(() => undefined);
			} else if (frame.type === 'resubscribe') {
				lastId = frame.last_id ?? lastId;
				subscribe();
			} else if (frame.type === 'info_blob.status' && frame.data) {
				if (frame.id) lastId = frame.id;
				options.onStatus?.(frame.data as StatusEvent);
			} else if (frame.type === 'crawl_run.progress' && frame.data) {
				if (frame.id) lastId = frame.id;
				options.onRun?.(frame.data as CrawlRun);
			} else if (frame.type === 'error' && !frame.id && UNAVAILABLE_CODES.has(frame.code ?? '')) {
				// Redis or Postgres is down for a moment: keep the connection, subscribe again after the wait
				// (from the last event seen; the subscription's poll reads what happened meanwhile).
				progressed = true;
				if (retryTimer) clearTimeout(retryTimer);
				retryTimer = setTimeout(() => {
					retryTimer = null;
					if (!closed && socket === ws) subscribe();
				}, retryDelayMs(frame.retry_after));
			} else if (frame.type === 'error' && !frame.id) {
				ws.close(); // refused (too many subscriptions, credential changed): counts as a failed connection
			}
		};
		ws.onclose = () => {
			if (retryTimer) clearTimeout(retryTimer);
			if (closed || socket !== ws) return;
			socket = null;
			if (!progressed) failures++;
			if (failures >= maxFailures) polling();
			else later(connect, progressed ? 250 : 500 * failures);
		};
	};
	connect();
	return {
		close() {
			closed = true;
			if (timer) clearTimeout(timer);
			const ws = socket;
			socket = null;
			try {
				ws?.close();
			} catch {
				/* already closed */
			}
		}
	};
}

/** The knowledge screen's name for it: documents' status. */
export const followDocuments = followEvents;
