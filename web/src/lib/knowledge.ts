/** The knowledge and assistant-editor routes (README, docs/knowledge.md), on api.ts's `request` helper so the
 * credential, the error shape and session expiry stay in one place. Collections are `groups` in the API,
 * documents `info-blobs`. */
import { request, type Page } from './api';

export type SpaceRole = 'viewer' | 'editor' | 'admin';
export interface Space {
	id: string;
	name: string;
	description: string;
	personal: boolean;
	my_role: SpaceRole;
}
export interface Group {
	id: string;
	space_id: string;
	name: string;
	description: string;
	documents: number;
	documents_ready: number;
	documents_failed: number;
}
export type BlobStatus = 'uploading' | 'queued' | 'processing' | 'embedding' | 'ready' | 'failed';
export interface Doc {
	id: string;
	group_id: string;
	title: string;
	filename: string;
	size_bytes: number | null;
	status: BlobStatus;
	error_code: string | null;
	error_message: string | null;
	pages: number | null;
	/** Pages (from 1) whose text was read by OCR: scanned PDF pages, images. */
	ocr_pages?: number[];
	/** The language its full text is searched in: `sv` and `en` stemmed, `other` word for word. */
	language?: 'sv' | 'en' | 'other' | null;
	chunks_total: number;
	chunks_embedded: number;
	created_at: string;
}
/** One chunk of what a document's text became (`GET /info-blobs/{id}/chunks/`). */
export interface Chunk {
	id: string;
	chunk_index: number;
	page: number | null;
	token_count: number;
	text: string;
	embedded: boolean;
}
export interface AcceptedType {
	type: string;
	label: string;
	media_type: string;
	media_types: string[];
	extensions: string[];
	max_bytes: number;
}
export interface Limits {
	accepted_types: AcceptedType[];
	upload_max_bytes: number;
	audio_max_bytes: number;
}
export interface PresignedUpload {
	url: string;
	fields: Record<string, string>;
	expires_at: string;
}
export interface Hit {
	chunk_id: string;
	info_blob_id: string;
	title: string;
	chunk_index: number;
	page: number | null;
	text: string;
	score: number;
}
export interface ModelKwargs {
	temperature?: number | null;
	top_p?: number | null;
	max_tokens?: number | null;
}
export type PersonalData = 'tenant' | 'mask' | 'local_model';

export interface AssistantDetail {
	id: string;
	space_id: string;
	name: string;
	description: string;
	system_prompt: string;
	prompt_version: number;
	completion_model_id: string;
	model_kwargs: ModelKwargs;
	published: boolean;
	/** Personal data before an external model (docs/personal-data.md). */
	personal_data: PersonalData;
	groups: { id: string; name: string }[];
	/** Crawled websites of the same space it answers from (docs/websites.md). */
	websites?: { id: string; name: string }[];
}
export type AssistantChange = Partial<
	Pick<AssistantDetail, 'name' | 'description' | 'system_prompt' | 'completion_model_id' | 'model_kwargs' | 'published' | 'personal_data'>
> & { groups?: string[]; websites?: string[] };
export interface PromptVersion {
	version: number;
	text: string;
	created_at: string;
}
export interface CompletionModel {
	id: string;
	name: string;
	display_name: string;
	provider_name: string;
	max_output_tokens: number | null;
	context_window: number;
	is_default: boolean;
}

/** Whether a space role may change content (collections, documents, assistants): editors and admins. */
export const canEdit = (role: SpaceRole | undefined): boolean => role === 'editor' || role === 'admin';

const all = <T>(path: string) => request<Page<T>>('GET', `${path}?limit=100`).then((p) => p.items);

export const knowledge = {
	spaces: () => all<Space>('/api/v1/spaces/'),
	limits: () => request<Limits>('GET', '/api/v1/limits/'),
	groups: (space: string) => all<Group>(`/api/v1/spaces/${space}/knowledge/groups/`),
	createGroup: (space: string, name: string) =>
		request<Group>('POST', `/api/v1/spaces/${space}/knowledge/groups/`, { name }),
	renameGroup: (group: string, name: string) => request<Group>('PATCH', `/api/v1/groups/${group}/`, { name }),
	deleteGroup: (group: string) => request<void>('DELETE', `/api/v1/groups/${group}/`),
	blobs: (group: string) => all<Doc>(`/api/v1/groups/${group}/info-blobs/`),
	blob: (id: string) => request<Doc>('GET', `/api/v1/info-blobs/${id}/`),
	deleteBlob: (id: string) => request<void>('DELETE', `/api/v1/info-blobs/${id}/`),
	chunks: (id: string, cursor: string | null, limit = 20) =>
		request<Page<Chunk>>('GET', `/api/v1/info-blobs/${id}/chunks/?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`),
	retryBlob: (id: string) => request<Doc>('POST', `/api/v1/info-blobs/${id}/retry/`),
	uploadUrl: (group: string, file: { filename: string; content_type: string; size_bytes: number }) =>
		request<{ upload: PresignedUpload; blob: Doc }>('POST', `/api/v1/groups/${group}/info-blobs/upload-url/`, file),
	search: (group: string, query: string, limit = 5) =>
		request<{ items: Hit[] }>('POST', `/api/v1/groups/${group}/searches/`, { query, limit }).then((r) => r.items)
};

export const assistants = {
	inSpace: (space: string) => all<AssistantDetail>(`/api/v1/spaces/${space}/applications/assistants/`),
	get: (id: string) => request<AssistantDetail>('GET', `/api/v1/assistants/${id}/`),
	create: (space: string, body: AssistantChange) =>
		request<AssistantDetail>('POST', `/api/v1/spaces/${space}/applications/assistants/`, body),
	update: (id: string, body: AssistantChange) => request<AssistantDetail>('PATCH', `/api/v1/assistants/${id}/`, body),
	remove: (id: string) => request<void>('DELETE', `/api/v1/assistants/${id}/`),
	prompts: (id: string) => all<PromptVersion>(`/api/v1/assistants/${id}/prompts/`),
	restore: (id: string, version: number) =>
		request<AssistantDetail>('POST', `/api/v1/assistants/${id}/prompts/${version}/restore/`),
	models: () => all<CompletionModel>('/api/v1/completion-models/')
};
