/** One WebSocket per chat page (docs/streaming.md): opened once, before or at the first answer, and reused
 * for every answer after it, so an answer does not wait for a new connection's `$connect` (a token check in
 * the ws function) before its first token. The server relays one answer per connection at a time (a new
 * subscribe replaces the one before), which is what a chat page follows; a second answer followed while one
 * is still streaming gets a connection of its own (`followAnswer`). After a drop the socket reconnects and
 * resumes the answer after its last id; when connections keep failing before any frame, that answer is read
 * from the SSE endpoint instead, as `followAnswer` does. */
import {
	followAnswer,
	followSse,
	Reassembly,
	refusal,
	retryDelayMs,
	UNAVAILABLE_CODES,
	type Entry,
	type FollowOptions
} from './stream';
import type { Question } from './api';

export type ConnectionState = 'open' | 'reconnecting' | 'sse';

export interface SocketOptions {
	websocketUrl: string;
	token: () => string | null;
	onConnection?: (state: ConnectionState) => void;
	onSessionEnd?: () => void;
	/** Subscribe to new access tokens: the socket reconnects with the new one (an answer resumes). */
	onTokenRefresh?: (listener: () => void) => () => void;
	/** Connections that fail before any frame, in a row while an answer is followed, before SSE takes over. */
	maxSocketFailures?: number;
}

export interface AnswerOptions {
	questionId: string;
	onUpdate: (state: Reassembly) => void;
	loadQuestion: (id: string) => Promise<Question>;
	signal?: AbortSignal;
}

interface Follower {
	state: Reassembly;
	answer: AnswerOptions;
	resolve: (state: Reassembly) => void;
	retryTimer: ReturnType<typeof setTimeout> | null;
	sse: boolean;
	abort: () => void;
}

export class AnswerSocket {
	private socket: WebSocket | null = null;
	private open = false;
	/** A frame arrived on the current connection (a connection that delivers resets the failure count). */
	private progressed = false;
	private failures = 0;
	private current: Follower | null = null;
	private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
	private closed = false;
	private readonly unsubscribe: (() => void) | undefined;

	constructor(private readonly options: SocketOptions) {
		this.unsubscribe = options.onTokenRefresh?.(() => this.renew());
	}

	/** Connect now (when the user starts typing), so the first answer finds the socket open. */
	warm(): void {
		if (!this.socket && !this.closed && !this.reconnectTimer) this.connect();
	}

	/** Follow an answer to its end on this page's socket; resolves with the reassembled answer. */
	follow(answer: AnswerOptions): Promise<Reassembly> {
		if (this.current || this.closed) return followAnswer({ ...this.options, ...answer }); // already busy
		return new Promise((resolve) => {
			const follower: Follower = {
				state: new Reassembly(),
				answer,
				resolve,
				retryTimer: null,
				sse: false,
				abort: () => this.finish(follower)
			};
			if (answer.signal?.aborted) {
				resolve(follower.state);
				return;
			}
			answer.signal?.addEventListener('abort', follower.abort);
			this.current = follower;
			this.failures = 0;
			if (this.open) this.subscribe(follower, follower.state.lastId);
			else if (!this.socket && !this.reconnectTimer) this.connect();
		});
	}

	/** The page is left: the socket closes and a followed answer stops. */
	close(): void {
		this.closed = true;
		this.unsubscribe?.();
		if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
		this.reconnectTimer = null;
		if (this.current) this.finish(this.current);
		this.drop();
	}

	private connect(): void {
		this.reconnectTimer = null;
		if (this.closed) return;
		const token = this.options.token();
		if (!token) {
			this.options.onSessionEnd?.();
			if (this.current) this.finish(this.current);
			return;
		}
		let socket: WebSocket;
		try {
			socket = new WebSocket(`${this.options.websocketUrl}?token=${encodeURIComponent(token)}`);
		} catch {
			this.dropped(null);
			return;
		}
		this.socket = socket;
		this.open = false;
		this.progressed = false;
		socket.onopen = () => {
			if (socket !== this.socket) return;
			this.open = true;
			if (this.current) {
				this.options.onConnection?.('open');
				this.subscribe(this.current, this.current.state.lastId);
			}
		};
		socket.onmessage = (event) => {
			if (socket === this.socket) void this.frame(String(event.data));
		};
		socket.onerror = () => this.dropped(socket);
		socket.onclose = () => this.dropped(socket);
	}

	/** Close the current connection without reconnecting (its late events are ignored). */
	private drop(): void {
		const socket = this.socket;
		this.socket = null;
		this.open = false;
		try {
			socket?.close();
		} catch {
			/* already closed */
		}
	}

	/** A new access token: a new connection with it; a followed answer resumes after its last id. */
	private renew(): void {
		if (!this.socket || this.closed) return;
		this.drop();
		if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
		this.connect();
	}

	private dropped(socket: WebSocket | null): void {
		if (socket !== this.socket) return; // an old connection's late event
		const progressed = this.progressed;
		this.drop();
		const follower = this.current;
		if (this.closed || !follower || follower.sse) return; // idle: the next answer connects again
		this.failures = progressed ? 0 : this.failures + 1;
		if (this.failures >= (this.options.maxSocketFailures ?? 3)) {
			follower.sse = true;
			this.options.onConnection?.('sse');
			void followSse(follower.state, this.followOptions(follower)).then(() => this.finish(follower));
			return;
		}
		this.options.onConnection?.('reconnecting');
		this.reconnectTimer = setTimeout(() => this.connect(), Math.min(250 * 2 ** this.failures, 2000));
	}

	private subscribe(follower: Follower, lastId: string): void {
		const message: Record<string, string> = { action: 'subscribe', question_id: follower.answer.questionId };
		if (lastId !== '0-0') message.last_id = lastId;
		try {
			this.socket?.send(JSON.stringify(message));
		} catch {
			this.dropped(this.socket);
		}
	}

	private async frame(data: string): Promise<void> {
		let frame: Entry & { message?: string };
		try {
			frame = JSON.parse(data);
		} catch {
			return;
		}
		this.progressed = true;
		const follower = this.current;
		if (!follower || follower.sse) return; // a relay of an answer no longer followed: its frames are dropped
		const { state } = follower;
		if (frame.type === undefined) {
			// API Gateway's own notices: only a failed relay needs a new subscribe.
			if (frame.message === 'Internal server error') this.subscribe(follower, state.lastId);
			return;
		}
		if (frame.question_id && frame.question_id !== follower.answer.questionId) return; // an earlier answer's
		if (frame.type === 'resubscribe') {
			this.subscribe(follower, frame.last_id ?? state.lastId);
			return;
		}
		if (frame.type === 'error' && !frame.id && UNAVAILABLE_CODES.has(frame.code ?? '')) {
			// Redis or Postgres is down for a moment: the connection stays; subscribe again after the wait.
			this.options.onConnection?.('reconnecting');
			if (follower.retryTimer) clearTimeout(follower.retryTimer);
			follower.retryTimer = setTimeout(() => {
				follower.retryTimer = null;
				if (this.current !== follower || !this.open) return;
				this.subscribe(follower, state.lastId);
				this.options.onConnection?.('open');
			}, retryDelayMs(frame.retry_after));
			return;
		}
		if (frame.type === 'error' && !frame.id) {
			await refusal(frame.code ?? '', state, this.followOptions(follower));
			if (this.current !== follower) return;
			if (state.finished) this.finish(follower);
			else this.dropped(this.socket); // not_authenticated and the like: a new connection tries again
			return;
		}
		if (state.accept(frame)) follower.answer.onUpdate(state);
		if (state.finished) this.finish(follower);
	}

	private followOptions(follower: Follower): FollowOptions {
		return { ...this.options, ...follower.answer };
	}

	/** The answer ended (or was let go): the socket stays open for the next one. */
	private finish(follower: Follower): void {
		if (follower.retryTimer) clearTimeout(follower.retryTimer);
		follower.answer.signal?.removeEventListener('abort', follower.abort);
		if (this.current === follower) {
			this.current = null;
			if (this.reconnectTimer && !this.closed) {
				clearTimeout(this.reconnectTimer); // no answer to resume: the next one connects
				this.reconnectTimer = null;
			}
		}
		follower.resolve(follower.state);
	}
}
