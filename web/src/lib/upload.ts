/** Uploading many files to a collection: each is checked against GET /api/v1/limits/ first, then goes through
 * the presigned POST the API recommends for browsers (docs/knowledge.md: `…/upload-url/`, then the fields and
 * the file as a form straight to storage), a few at a time, with its own progress. The transport is
 * injected so the queue's rules are unit-tested without a network. */
import { ApiError } from './api';
import type { AcceptedType, Doc, Limits, PresignedUpload } from './knowledge';

export type Phase = 'waiting' | 'uploading' | 'stored' | 'refused' | 'failed';

export interface UploadItem {
	key: string;
	name: string;
	size: number;
	loaded: number; // bytes sent so far
	phase: Phase;
	blobId: string | null;
	/** Why it was refused (before sending) or failed: a code the UI words, and what it needs to. */
	error: { code: string; message: string; maxBytes?: number; label?: string } | null;
}

export interface FileLike {
	name: string;
	type: string;
	size: number;
}

export interface Transport<F extends FileLike = File> {
	presign(file: { filename: string; content_type: string; size_bytes: number }): Promise<{ upload: PresignedUpload; blob: Doc }>;
	send(upload: PresignedUpload, file: F, onProgress: (loaded: number) => void): Promise<void>;
	/** Best effort: the document row of a file storage refused, so no stuck `uploading` row is left. */
	discard(blobId: string): Promise<void>;
}

const GENERIC = new Set(['', 'application/octet-stream', 'binary/octet-stream', 'application/x-unknown']);

export type Check =
	| { ok: true; contentType: string; accepted: AcceptedType }
	| { ok: false; code: 'unsupported_type' | 'too_large' | 'empty'; maxBytes?: number; label?: string };

/** What the server would say about this file, said before anything is sent: its accepted type by media type,
 * or by extension when the browser knows no type (as the API decides), and the type's size limit. */
export function checkFile(file: FileLike, limits: Limits): Check {
	const media = file.type.split(';')[0].trim().toLowerCase();
	const name = file.name.toLowerCase();
	const ext = name.includes('.') ? name.slice(name.lastIndexOf('.')) : '';
	const accepted =
		limits.accepted_types.find((a) => a.media_types.includes(media)) ??
		(GENERIC.has(media) ? limits.accepted_types.find((a) => a.extensions.includes(ext)) : undefined);
	if (!accepted) return { ok: false, code: 'unsupported_type' };
	if (file.size === 0) return { ok: false, code: 'empty' };
	if (file.size > accepted.max_bytes) return { ok: false, code: 'too_large', maxBytes: accepted.max_bytes, label: accepted.label };
	return { ok: true, contentType: GENERIC.has(media) ? accepted.media_type : media, accepted };
}

/** Storage's refusal of a form POST (S3's XML error code, e.g. EntityTooLarge, AccessDenied). */
export class StorageError extends Error {
	constructor(readonly status: number, readonly code: string) {
		super(`${status} ${code}`);
	}
}

export class UploadQueue<F extends FileLike = File> {
	items: UploadItem[] = [];
	private files = new Map<string, F>();
	private running = 0;
	private counter = 0;

	constructor(
		private readonly transport: Transport<F>,
		private readonly onChange: (items: UploadItem[]) => void,
		private readonly concurrency = 3
	) {}

	/** Queue files: those the limits refuse are marked at once (nothing is sent for them). */
	add(files: Iterable<F>, limits: Limits): UploadItem[] {
		const added: UploadItem[] = [];
		for (const file of files) {
			const key = `u${++this.counter}`;
			const check = checkFile(file, limits);
			const item: UploadItem = {
				key, name: file.name, size: file.size, loaded: 0, blobId: null,
				phase: check.ok ? 'waiting' : 'refused',
				error: check.ok ? null : { code: check.code, message: '', maxBytes: check.maxBytes, label: check.label }
			};
			this.files.set(key, file);
			this.items.push(item);
			added.push(item);
		}
		this.changed();
		this.pump(limits);
		return added;
	}

	/** Send a failed file again (a new presigned upload). */
	retry(key: string, limits: Limits): void {
		const item = this.items.find((i) => i.key === key);
		if (!item || item.phase !== 'failed') return;
		this.set(item, { phase: 'waiting', loaded: 0, error: null, blobId: null });
		this.pump(limits);
	}

	/** Forget a finished, refused or failed file from the list. */
	dismiss(key: string): void {
		const item = this.items.find((i) => i.key === key);
		if (!item || item.phase === 'uploading') return;
		this.items = this.items.filter((i) => i.key !== key);
		this.files.delete(key);
		this.changed();
	}

	get active(): number {
		return this.running;
	}

	private pump(limits: Limits): void {
		while (this.running < this.concurrency) {
			const next = this.items.find((i) => i.phase === 'waiting');
			if (!next) return;
			this.running++;
			this.set(next, { phase: 'uploading' });
			void this.run(next, limits).finally(() => {
				this.running--;
				this.pump(limits);
			});
		}
	}

	private async run(item: UploadItem, limits: Limits): Promise<void> {
		const file = this.files.get(item.key);
		const check = file ? checkFile(file, limits) : null;
		if (!file || !check?.ok) return;
		let blobId: string | null = null;
		try {
			const { upload, blob } = await this.transport.presign({
				filename: file.name, content_type: check.contentType, size_bytes: file.size
			});
			blobId = blob.id;
			this.set(item, { blobId });
			await this.transport.send(upload, file, (loaded) => this.set(item, { loaded: Math.min(loaded, item.size) }));
			this.set(item, { phase: 'stored', loaded: item.size });
		} catch (e) {
			const refused = e instanceof ApiError && e.status >= 400 && e.status < 500;
			const code = e instanceof ApiError || e instanceof StorageError ? e.code : 'network';
			if (blobId) await this.transport.discard(blobId).catch(() => undefined);
			this.set(item, {
				phase: refused ? 'refused' : 'failed', blobId: null, loaded: 0,
				error: { code, message: e instanceof Error ? e.message : String(e) }
			});
		}
	}

	private set(item: UploadItem, change: Partial<UploadItem>): void {
		Object.assign(item, change);
		this.changed();
	}

	private changed(): void {
		this.onChange(this.items.map((i) => ({ ...i })));
	}
}

/** The browser's transport: the form POST with XMLHttpRequest, the only browser API with upload progress. */
export function postForm(upload: PresignedUpload, file: File, onProgress: (loaded: number) => void): Promise<void> {
	return new Promise((resolve, reject) => {
		const form = new FormData();
		for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
		form.append('file', file); // last: S3 ignores fields after the file
		const xhr = new XMLHttpRequest();
		xhr.open('POST', upload.url);
		xhr.upload.onprogress = (event) => onProgress(event.loaded);
		xhr.onload = () => {
			if (xhr.status >= 200 && xhr.status < 300) resolve();
			else reject(new StorageError(xhr.status, /<Code>([^<]+)<\/Code>/.exec(xhr.responseText ?? '')?.[1] ?? `http_${xhr.status}`));
		};
		xhr.onerror = () => reject(new StorageError(0, 'network'));
		xhr.onabort = () => reject(new StorageError(0, 'aborted'));
		xhr.send(form);
	});
}
