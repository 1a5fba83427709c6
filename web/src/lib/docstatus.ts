/** Documents' and uploads' states in words (the API's codes, docs/knowledge.md, worded in i18n.ts). */
import { dictionaries, reasonText, translate, type Key, type Lang } from './i18n';
import type { Doc, Limits } from './knowledge';
import type { UploadItem } from './upload';

/** 52428800 → "50 MB" (binary units, as the API's limits are: 50 MiB), in the language's number format. */
export function sizeText(bytes: number, lang: Lang): string {
	const units = ['B', 'kB', 'MB', 'GB'];
	let value = bytes;
	let unit = 0;
	while (value >= 1024 && unit < units.length - 1) {
		value /= 1024;
		unit++;
	}
	const digits = unit === 0 || value >= 10 ? 0 : 1;
	return `${value.toLocaleString(lang === 'sv' ? 'sv-SE' : 'en-GB', { maximumFractionDigits: digits })} ${units[unit]}`;
}

/** Why a document failed: its code worded, else the server's message. */
export function failureText(lang: Lang, code: string | null, message: string | null): string {
	const key = `doc.${code}` as Key;
	if (code && key in dictionaries[lang]) return translate(lang, key);
	return message || translate(lang, 'reason.unknown', { code: code ?? '?' });
}

/** uploading → waiting for the file, queued, processing → extracting, embedding n of m, ready, or failed with
 * the reason. */
export function statusText(lang: Lang, doc: Pick<Doc, 'status' | 'error_code' | 'error_message' | 'chunks_total' | 'chunks_embedded'>): string {
	switch (doc.status) {
		case 'embedding':
			return translate(lang, 'kb.status.embedding', { done: doc.chunks_embedded, total: doc.chunks_total });
		case 'failed':
			return translate(lang, 'kb.status.failed', { reason: failureText(lang, doc.error_code, doc.error_message) });
		default:
			return translate(lang, `kb.status.${doc.status}` as Key);
	}
}

/** An upload's line: waiting, its percentage, uploaded, or why it was refused or failed. */
export function uploadText(lang: Lang, item: UploadItem): string {
	switch (item.phase) {
		case 'waiting':
			return translate(lang, 'kb.waiting');
		case 'uploading':
			return translate(lang, 'kb.sending', { percent: item.size ? Math.floor((100 * item.loaded) / item.size) : 0 });
		case 'stored':
			return translate(lang, 'kb.stored');
		default: {
			const code = item.error?.code ?? 'unknown';
			if (code === 'too_large' && item.error?.maxBytes)
				return translate(lang, 'kb.refused.too_large', { label: item.error.label ?? '', size: sizeText(item.error.maxBytes, lang) });
			const refusal = `kb.refused.${code}` as Key;
			if (refusal in dictionaries[lang]) return translate(lang, refusal);
			const reason = `doc.${code}` as Key;
			const words =
				reason in dictionaries[lang]
					? translate(lang, reason)
					: code === 'network'
						? reasonText(lang, 'network')
						: /^[A-Z]/.test(code) || code.startsWith('http_')
							? translate(lang, 'kb.storageRefused', { code })
							: item.error?.message || reasonText(lang, code);
			return translate(lang, 'kb.uploadFailed', { reason: words });
		}
	}
}

/** "PDF, DOCX, …" and the largest document size, for the upload area's hint. */
export function acceptedText(lang: Lang, limits: Limits): string {
	const types = limits.accepted_types.map((a) => a.extensions[0]?.replace('.', '').toUpperCase()).filter(Boolean);
	return translate(lang, 'kb.accepted', { types: types.join(', '), size: sizeText(limits.upload_max_bytes, lang) });
}

/** The `accept` attribute of the file input: every accepted extension and media type. */
export function acceptAttribute(limits: Limits): string {
	return limits.accepted_types.flatMap((a) => [...a.extensions, ...a.media_types]).join(',');
}
