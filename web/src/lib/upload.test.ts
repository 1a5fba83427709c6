import { describe, expect, it } from 'vitest';
import { ApiError } from './api';
import { sizeText, statusText, uploadText } from './docstatus';
import type { Doc, Limits, PresignedUpload } from './knowledge';
import { checkFile, StorageError, UploadQueue, type FileLike, type Transport, type UploadItem } from './upload';

const MiB = 1024 * 1024;
const limits: Limits = {
	upload_max_bytes: 50 * MiB,
	audio_max_bytes: 25 * MiB,
	accepted_types: [
		{ type: 'pdf', label: 'PDF', media_type: 'application/pdf', media_types: ['application/pdf', 'application/x-pdf'], extensions: ['.pdf'], max_bytes: 50 * MiB },
		{ type: 'mp3', label: 'MP3 audio', media_type: 'audio/mpeg', media_types: ['audio/mpeg'], extensions: ['.mp3'], max_bytes: 25 * MiB },
		{ type: 'docx', label: 'Word document (DOCX)', media_type: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
			media_types: ['application/vnd.openxmlformats-officedocument.wordprocessingml.document'], extensions: ['.docx'], max_bytes: 50 * MiB }
	]
};
const file = (name: string, size: number, type = ''): FileLike => ({ name, size, type });

interface Call {
	name: string;
	contentType: string;
	progress: (loaded: number) => void;
	resolve: () => void;
	reject: (e: unknown) => void;
}

/** A transport whose sends finish when the test says so. */
function fakeTransport(presignError?: (name: string) => unknown) {
	const sends: Call[] = [];
	const discarded: string[] = [];
	let n = 0;
	const transport: Transport<FileLike> = {
		async presign(f) {
			const error = presignError?.(f.filename);
			if (error) throw error;
			const id = `blob-${++n}`;
			const upload: PresignedUpload = { url: 'http://s3.test/bucket', fields: { key: id, 'Content-Type': f.content_type }, expires_at: '' };
			return { upload, blob: { id, title: f.filename, status: 'uploading' } as Doc };
		},
		send(upload, f, progress) {
			return new Promise((resolve, reject) =>
				sends.push({ name: f.name, contentType: upload.fields['Content-Type'], progress, resolve, reject })
			);
		},
		async discard(id) {
			discarded.push(id);
		}
	};
	return { transport, sends, discarded };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

describe('checkFile: the limits before anything is sent', () => {
	it('accepts by media type, or by extension when the browser knows no type', () => {
		expect(checkFile(file('a.pdf', 10, 'application/pdf'), limits)).toMatchObject({ ok: true, contentType: 'application/pdf' });
		expect(checkFile(file('b.DOCX', 10, ''), limits)).toMatchObject({ ok: true, contentType: limits.accepted_types[2].media_type });
		expect(checkFile(file('c.pdf', 10, 'application/octet-stream'), limits)).toMatchObject({ ok: true, contentType: 'application/pdf' });
	});

	it('refuses an unknown type, an empty file and one over its own type\'s limit', () => {
		expect(checkFile(file('x.exe', 10, 'application/x-msdownload'), limits)).toEqual({ ok: false, code: 'unsupported_type' });
		expect(checkFile(file('x.pdf', 10, 'image/png'), limits)).toEqual({ ok: false, code: 'unsupported_type' }); // a type is not overridden by the name
		expect(checkFile(file('e.pdf', 0, 'application/pdf'), limits)).toEqual({ ok: false, code: 'empty' });
		expect(checkFile(file('big.mp3', 30 * MiB, 'audio/mpeg'), limits)).toEqual({ ok: false, code: 'too_large', maxBytes: 25 * MiB, label: 'MP3 audio' });
		expect(checkFile(file('ok.pdf', 30 * MiB, 'application/pdf'), limits).ok).toBe(true);
	});
});

describe('UploadQueue', () => {
	it('sends at most `concurrency` files at once, each with its own progress, and starts the next as one ends', async () => {
		const { transport, sends } = fakeTransport();
		let seen: UploadItem[] = [];
		const queue = new UploadQueue(transport, (items) => (seen = items), 2);
		queue.add([file('1.pdf', 1000, 'application/pdf'), file('2.pdf', 2000, 'application/pdf'), file('3.pdf', 500, 'application/pdf')], limits);
		await settle();
		expect(sends.map((s) => s.name)).toEqual(['1.pdf', '2.pdf']);
		expect(seen.map((i) => i.phase)).toEqual(['uploading', 'uploading', 'waiting']);
		expect(seen.map((i) => i.blobId)).toEqual(['blob-1', 'blob-2', null]);

		sends[1].progress(500);
		sends[0].progress(250);
		expect(seen.map((i) => i.loaded)).toEqual([250, 500, 0]);
		expect(uploadText('en', seen[1])).toBe('Uploading, 25 %');

		sends[0].resolve();
		await settle();
		expect(seen[0]).toMatchObject({ phase: 'stored', loaded: 1000 });
		expect(sends.map((s) => s.name)).toEqual(['1.pdf', '2.pdf', '3.pdf']); // the third started when the first ended
		expect(queue.active).toBe(2);
		sends[1].resolve();
		sends[2].resolve();
		await settle();
		expect(seen.every((i) => i.phase === 'stored')).toBe(true);
		expect(queue.active).toBe(0);
	});

	it('refuses files the limits refuse without sending them, and sends the others', async () => {
		const { transport, sends } = fakeTransport();
		let seen: UploadItem[] = [];
		const queue = new UploadQueue(transport, (items) => (seen = items));
		queue.add([file('song.mp3', 26 * MiB, 'audio/mpeg'), file('virus.exe', 10, ''), file('ok.pdf', 10, 'application/pdf')], limits);
		await settle();
		expect(sends.map((s) => s.name)).toEqual(['ok.pdf']);
		expect(seen.map((i) => i.phase)).toEqual(['refused', 'refused', 'uploading']);
		expect(uploadText('en', seen[0])).toBe('The file is too large: MP3 audio files may be at most 25 MB.');
		expect(uploadText('sv', seen[1])).toBe('Filtypen stöds inte.');
	});

	it('a refusal by the API is shown in words; a storage failure deletes the stuck document and can be retried', async () => {
		const { transport, sends, discarded } = fakeTransport((name) =>
			name === 'wrong.pdf' ? new ApiError(415, 'unsupported_type', 'Accepted types: …') : undefined);
		let seen: UploadItem[] = [];
		const queue = new UploadQueue(transport, (items) => (seen = items));
		queue.add([file('wrong.pdf', 10, 'application/pdf'), file('cut.pdf', 100, 'application/pdf')], limits);
		await settle();
		expect(seen[0]).toMatchObject({ phase: 'refused', error: { code: 'unsupported_type' } });
		sends[0].progress(60);
		sends[0].reject(new StorageError(400, 'EntityTooLarge'));
		await settle();
		expect(seen[1]).toMatchObject({ phase: 'failed', loaded: 0, blobId: null, error: { code: 'EntityTooLarge' } });
		expect(discarded).toEqual(['blob-1']); // the document row the failed upload made
		expect(uploadText('en', seen[1])).toBe('The upload failed: storage did not accept the file (EntityTooLarge)');

		queue.retry(seen[1].key, limits);
		await settle();
		expect(sends.length).toBe(2);
		sends[1].resolve();
		await settle();
		expect(seen[1]).toMatchObject({ phase: 'stored', blobId: 'blob-2', error: null });
		queue.dismiss(seen[0].key);
		expect(seen.map((i) => i.name)).toEqual(['cut.pdf']);
	});

	it('a lost connection is a failure that says so', async () => {
		const { transport, sends } = fakeTransport();
		let seen: UploadItem[] = [];
		new UploadQueue(transport, (items) => (seen = items)).add([file('a.pdf', 10, 'application/pdf')], limits);
		await settle();
		sends[0].reject(new StorageError(0, 'network'));
		await settle();
		expect(uploadText('sv', seen[0])).toBe('Uppladdningen misslyckades: servern gick inte att nå');
	});
});

describe('document status in words', () => {
	const doc = { error_code: null, error_message: null, chunks_total: 0, chunks_embedded: 0 };
	it('names each step and a failure\'s reason', () => {
		expect(statusText('en', { ...doc, status: 'uploading' })).toBe('Waiting for the file');
		expect(statusText('en', { ...doc, status: 'queued' })).toBe('Queued');
		expect(statusText('sv', { ...doc, status: 'queued' })).toBe('Köad');
		expect(statusText('en', { ...doc, status: 'processing' })).toBe('Extracting the text');
		expect(statusText('sv', { ...doc, status: 'embedding', chunks_total: 12, chunks_embedded: 4 })).toBe('Indexerar (4 av 12)');
		expect(statusText('en', { ...doc, status: 'ready' })).toBe('Ready');
		expect(statusText('en', { ...doc, status: 'failed', error_code: 'encrypted', error_message: 'x' })).toBe('Failed: the file is password-protected');
		expect(statusText('en', { ...doc, status: 'failed', error_code: 'brand_new', error_message: 'Server words' })).toBe('Failed: Server words');
	});
	it('sizes in binary units', () => {
		expect(sizeText(50 * MiB, 'en')).toBe('50 MB');
		expect(sizeText(1536, 'sv')).toBe('1,5 kB');
	});
});
