/** The typed API client: one place for the credential header, the platform's error shape and what an
 * expired or revoked session does (back to sign-in, then back to where the user was). */
import { goto } from '$app/navigation';
import { writable } from 'svelte/store';
import { session, SIGNED_OUT_CODES, type TokenAnswer } from './session';

export interface Page<T> {
	items: T[];
	next_cursor: string | null;
}
export interface User {
	id: string;
	tenant_id: string;
	email: string;
	name: string;
	role: 'admin' | 'user';
	role_id?: string;
	state: string;
	totp_enabled?: boolean;
	permissions?: string[]; // GET /users/me/ only: what the user's role grants (docs/permissions.md)
}
export interface Assistant {
	id: string;
	space_id: string;
	name: string;
	description: string;
	published: boolean;
	groups: { id: string; name?: string }[];
}
export interface Reference {
	id: string;
	title: string;
	chunk_index: number;
	page: number | null;
	score: number;
	n: number;
}
/** A cited passage's text and where its document is (GET /info-blobs/{id}/chunks/{n}/). */
export interface Passage {
	info_blob_id: string;
	title: string;
	filename: string;
	group_id: string;
	space_id: string;
	chunk_index: number;
	page: number | null;
	text: string;
	source_url?: string | null;
}
/** A presigned link to a document's original file, valid a few minutes (GET /info-blobs/{id}/download/). */
export interface Download {
	info_blob_id: string;
	url: string;
	expires_at: string;
	filename: string;
	content_type: string;
	size_bytes: number | null;
	source_url: string | null;
}
export type QuestionStatus = 'queued' | 'streaming' | 'completed' | 'failed' | 'cancelled';
export interface Question {
	id: string;
	session_id: string;
	question: string;
	answer: string;
	status: QuestionStatus;
	partial: boolean;
	error: { code: string; message: string } | null;
	model: string;
	feedback: { value: 1 | -1; text: string | null } | null;
	references: Reference[];
	created_at: string;
	completed_at: string | null;
}
export interface SessionSummary {
	id: string;
	assistant_id: string;
	name: string;
	created_at: string;
	updated_at: string;
}
export interface SessionDetail extends SessionSummary {
	questions: Question[];
}
export interface Asked {
	session_id: string;
	question: Question;
	stream: { sse: string; websocket: { action: 'subscribe'; question_id: string } } | null;
}
export interface InfoBlob {
	id: string;
	title: string;
	group_id?: string;
	status?: string;
}
/** An assistant's settings as its editor has them, saved or not (what `ask` answers a draft with). */
export interface AssistantDraft {
	system_prompt?: string;
	completion_model_id?: string;
	model_kwargs?: { temperature?: number | null; max_tokens?: number | null };
	groups?: string[];
	websites?: string[];
	personal_data?: 'tenant' | 'mask' | 'local_model';
}
export interface AppConfig {
	websocket_url: string;
}

/** An API error in the platform's shape ({code, message, details, request_id}). */
export class ApiError extends Error {
	constructor(
		readonly status: number,
		readonly code: string,
		message: string,
		readonly retryAfter?: number,
		readonly requestId?: string
	) {
		super(message);
	}
}

/** Codes that mean "this credential no longer works": sign in again (`token_expired` only reaches here
 * when the refresh after it failed: session.ts). */
export function isSessionEnd(status: number, code: string): boolean {
	return status === 401 && (SIGNED_OUT_CODES.has(code) || code === 'token_expired');
}

export async function errorOf(response: Response): Promise<ApiError> {
	let code = `http_${response.status}`;
	let message = response.statusText;
	let requestId: string | undefined;
	try {
		const body = await response.json();
		if (typeof body?.code === 'string') code = body.code;
		if (typeof body?.message === 'string') message = body.message;
		if (typeof body?.request_id === 'string') requestId = body.request_id;
	} catch {
		/* not JSON: keep the status */
	}
	const retry = Number(response.headers.get('retry-after'));
	return new ApiError(response.status, code, message, Number.isFinite(retry) && retry > 0 ? retry : undefined, requestId);
}

/** Send the user to sign in, to come back to the page they are on. */
let leaving = false; // one redirect at a time: several calls may fail together
export function toSignIn(expired = true): void {
	session.forget();
	currentUser.set(null);
	if (leaving || location.pathname.startsWith('/login')) return;
	leaving = true;
	const next = location.pathname + location.search;
	void goto(`/login?next=${encodeURIComponent(next)}${expired ? '&expired=1' : ''}`, { replaceState: true }).finally(
		() => (leaving = false)
	);
}

/** Who is signed in (the header's links and the admin screen read it); null when nobody is. */
export const currentUser = writable<User | null>(null);

/** For a screen's onMount: a session (held, or restored from the refresh cookie) and the user, else to
 * sign-in (and back here after it). */
export async function requireUser(): Promise<User | null> {
	if (!(await session.valid())) {
		toSignIn(false);
		return null;
	}
	try {
		const user = await request<User>('GET', '/api/v1/users/me/');
		currentUser.set(user);
		return user;
	} catch {
		return null;
	}
}

// A session that ends outside a request (the scheduled refresh refused) also goes to sign-in.
session.onEnd(() => toSignIn());

export function authHeaders(): Record<string, string> {
	const token = session.current();
	return token ? { Authorization: `Bearer ${token}` } : {};
}

export async function request<T>(method: string, path: string, body?: unknown, init: RequestInit = {}): Promise<T> {
	let response: Response;
	try {
		// session.fetch adds the access token, refreshes it on a 401 token_expired and retries once.
		response = await session.fetch(path, {
			...init,
			method,
			headers: {
				Accept: 'application/json',
				...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
				...(init.headers as Record<string, string> | undefined)
			},
			body: body !== undefined ? JSON.stringify(body) : undefined
		});
	} catch {
		throw new ApiError(0, 'network', 'network');
	}
	if (!response.ok) {
		const error = await errorOf(response);
		if (isSessionEnd(error.status, error.code)) toSignIn();
		throw error;
	}
	if (response.status === 204) return undefined as T;
	return (await response.json()) as T;
}

export const api = {
	/** `otp`: the authenticator code (or a recovery code) of a user with a second factor (docs/auth.md). */
	async login(email: string, password: string, otp?: string): Promise<void> {
		let response: Response;
		try {
			response = await fetch('/api/v1/users/login/token/', {
				method: 'POST',
				headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
				// The refresh token goes into an HttpOnly cookie, out of scripts' reach (docs/auth.md).
				body: new URLSearchParams({ username: email, password, refresh_token_in: 'cookie', ...(otp ? { otp } : {}) })
			});
		} catch {
			throw new ApiError(0, 'network', 'network');
		}
		if (!response.ok) throw await errorOf(response);
		session.accept((await response.json()) as TokenAnswer);
	},
	/** POST /users/logout/ (with the cookie), then forget the token. */
	signOut: (): Promise<void> => session.signOut(),
	signedIn: (): boolean => session.signedIn,
	/** Signed in, or a live refresh cookie signs the user in now (page load): false sends to sign-in. */
	ensureSession: async (): Promise<boolean> => (await session.valid()) !== null,
	token: (): string | null => session.current(),
	/** Each new access token (the WebSocket reconnects with it); returns the unsubscribe. */
	onTokenRefresh: (listener: () => void): (() => void) => session.onRefresh(listener),
	me: () => request<User>('GET', '/api/v1/users/me/'),
	assistants: () => request<Page<Assistant>>('GET', '/api/v1/assistants/?limit=100'),
	sessions: (assistant: string) =>
		request<Page<SessionSummary>>('GET', `/api/v1/assistants/${assistant}/sessions/?limit=100`),
	session: (assistant: string, session: string) =>
		request<SessionDetail>('GET', `/api/v1/assistants/${assistant}/sessions/${session}/`),
	deleteSession: (assistant: string, session: string) =>
		request<void>('DELETE', `/api/v1/assistants/${assistant}/sessions/${session}/`),
	/** `draft`: the editor's unsaved settings to answer with (its test pane; editors only), nothing saved. */
	ask(assistant: string, session: string | null, question: string, idempotencyKey: string, draft?: AssistantDraft) {
		const path = `/api/v1/assistants/${assistant}/sessions/${session ? `${session}/` : ''}`;
		const body = draft ? { question, stream: true, draft } : { question, stream: true };
		return request<Asked>('POST', path, body, { headers: { 'Idempotency-Key': idempotencyKey } });
	},
	question: (id: string) => request<Question>('GET', `/api/v1/questions/${id}/`),
	/** Stop generating: the stream then ends with `answer_cancelled`; 409 `question_finished` when it ended first. */
	cancel: (id: string) => request<Question>('POST', `/api/v1/questions/${id}/cancel/`),
	feedback: (assistant: string, session: string, question: string, value: 1 | -1 | null, text: string | null) =>
		request<Question>('POST', `/api/v1/assistants/${assistant}/sessions/${session}/feedback/`, {
			question_id: question,
			value,
			text
		}),
	passage: (id: string, chunk: number) => request<Passage>('GET', `/api/v1/info-blobs/${id}/chunks/${chunk}/`),
	download: (id: string) => request<Download>('GET', `/api/v1/info-blobs/${id}/download/`),
	infoBlob: (id: string) => request<InfoBlob>('GET', `/api/v1/info-blobs/${id}/`),
	async config(): Promise<AppConfig> {
		try {
			const response = await fetch('/app-config.json', { headers: { Accept: 'application/json' } });
			if (response.ok) return (await response.json()) as AppConfig;
		} catch {
			/* fall through to the default */
		}
		const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
		return { websocket_url: `${scheme}//${location.host}/live` };
	}
};
