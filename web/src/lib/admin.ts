/** Tenant admins' API: users, model providers, completion, embedding and transcription models. */
import { ApiError, errorOf, isSessionEnd, request, toSignIn, type Page, type User } from './api';
import { session } from './session';

export interface AdminUser extends User {
	created_at: string;
	last_login_at: string | null;
}
export interface UserCreated extends AdminUser {
	invitation_token: string | null; // shown once
}
export type ProviderType = 'openai' | 'azure' | 'anthropic' | 'openai_compatible';
export const PROVIDER_TYPES: readonly ProviderType[] = ['openai_compatible', 'openai', 'azure', 'anthropic'];
export interface Provider {
	id: string;
	name: string;
	type: ProviderType;
	base_url: string | null;
	endpoint: string | null;
	api_version: string | null;
	has_api_key: boolean;
	api_key_last4: string | null;
	managed: boolean;
	local: boolean; // runs on the organisation's own infrastructure (docs/personal-data.md)
}
export interface ProviderCreate {
	name: string;
	type: ProviderType;
	api_key?: string;
	base_url?: string;
	endpoint?: string;
	api_version?: string;
	local?: boolean;
}
export interface ConnectionResult {
	ok: boolean;
	code: string | null;
	message: string | null;
	provider_status: number | null;
}
/** What the three kinds of model have in common, as far as this screen changes them. */
export interface Model {
	id: string;
	name: string;
	display_name?: string;
	provider_name: string | null;
	enabled: boolean;
	is_default: boolean;
	managed?: boolean;
	allowed_group_ids: string[]; // only members of these user groups may use it; empty: everyone
}
export type ModelKind = 'completion' | 'embedding' | 'transcription';
const MODEL_PATH: Record<ModelKind, string> = {
	completion: '/api/v1/completion-models/',
	embedding: '/api/v1/embedding-models/',
	transcription: '/api/v1/transcription-models/'
};

/** The link an invited user opens to choose a password (the token is in the fragment-free query; it is
 * shown once to the admin, who sends it). */
export function invitationLink(origin: string, token: string): string {
	return `${origin}/invitation?token=${encodeURIComponent(token)}`;
}

export const admin = {
	users: () => request<Page<AdminUser>>('GET', '/api/v1/users/?limit=100'),
	/** Without a password the user is invited: the answer has a one-time invitation token. */
	createUser: (email: string, name: string, role: 'user' | 'admin', password: string | null) =>
		request<UserCreated>('POST', '/api/v1/users/', { email, name, role, ...(password ? { password } : {}) }),
	setState: (id: string, state: 'active' | 'deactivated') =>
		request<AdminUser>('PATCH', `/api/v1/users/${id}/`, { state }),
	reinvite: (id: string) =>
		request<{ invitation_token: string; expires_at: string }>('POST', `/api/v1/users/${id}/invitation/`),
	deleteUser: (id: string) => request<void>('DELETE', `/api/v1/users/${id}/`),

	providers: () => request<Page<Provider>>('GET', '/api/v1/admin/model-providers/?limit=100'),
	createProvider: (body: ProviderCreate) => request<Provider>('POST', '/api/v1/admin/model-providers/', body),
	deleteProvider: (id: string) => request<void>('DELETE', `/api/v1/admin/model-providers/${id}/`),
	testProvider: (id: string) => request<ConnectionResult>('POST', `/api/v1/admin/model-providers/${id}/test/`),

	models: (kind: ModelKind) => request<Page<Model>>('GET', `${MODEL_PATH[kind]}?limit=100&include_disabled=true`),
	createCompletionModel: (providerId: string, name: string, displayName: string | null, contextWindow: number) =>
		request<Model>('POST', MODEL_PATH.completion, {
			provider_id: providerId,
			name,
			...(displayName ? { display_name: displayName } : {}),
			context_window: contextWindow
		}),
	updateModel: (kind: ModelKind, id: string,
		change: { enabled?: boolean; is_default?: boolean; allowed_group_ids?: string[] }) =>
		request<Model>('PATCH', `${MODEL_PATH[kind]}${id}/`, change)
};

/** One audit log entry (GET /api/v1/audit/logs/): who did what to which, when, from where, how it ended. */
export interface AuditEntry {
	id: string;
	created_at: string;
	action: string;
	outcome: 'success' | 'failure';
	actor_type: 'user' | 'sysadmin' | 'anonymous' | 'system';
	actor_id: string | null;
	actor_label: string | null;
	api_key_id: string | null;
	target_type: string | null;
	target_id: string | null;
	target_label: string | null;
	source_ip: string | null;
	request_id: string | null;
	details: Record<string, unknown>;
}
export interface AuditFilter {
	action?: string; // an action, or a prefix ending in '.'
	outcome?: 'success' | 'failure';
	since?: string; // ISO 8601 with a zone
	until?: string;
}
/** The prefixes the screen filters by: one per kind of thing acted on. */
export const AUDIT_CATEGORIES = [
	'auth.', 'user.', 'api_key.', 'space.', 'model_provider.', 'completion_model.', 'embedding_model.',
	'transcription_model.', 'collection.', 'document.', 'tenant.', 'audit.'
] as const;

function auditQuery(filter: AuditFilter, extra: Record<string, string> = {}): string {
	const q = new URLSearchParams(extra);
	for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
	return q.toString();
}

export const audit = {
	page: (filter: AuditFilter, cursor: string | null) =>
		request<Page<AuditEntry>>('GET', `/api/v1/audit/logs/?${auditQuery(filter, { limit: '50', ...(cursor ? { cursor } : {}) })}`),
	/** The export as a file (it needs the access token, so it is fetched and handed to the browser as a blob). */
	async download(filter: AuditFilter, format: 'csv' | 'jsonl'): Promise<{ blob: Blob; name: string }> {
		let response: Response;
		try {
			response = await session.fetch(`/api/v1/audit/logs/export/?${auditQuery(filter, { format })}`, { method: 'GET' });
		} catch {
			throw new ApiError(0, 'network', 'network');
		}
		if (!response.ok) {
			const error = await errorOf(response);
			if (isSessionEnd(error.status, error.code)) toSignIn();
			throw error;
		}
		const name = /filename="([^"]+)"/.exec(response.headers.get('content-disposition') ?? '')?.[1] ?? `audit.${format}`;
		return { blob: await response.blob(), name };
	}
};

/** Tokens summed over a range, by the groupings asked (GET /api/v1/token-usage/). */
export interface UsageRow {
	day?: string | null;
	user_id?: string | null;
	user_name?: string | null;
	model_id?: string | null;
	model_name?: string | null;
	input_tokens: number;
	output_tokens: number;
	total_tokens: number;
	questions: number;
}
export interface StorageUsage {
	bytes: number;
	documents: number;
	quota_bytes: number | null;
	collections: { id: string; name: string; space_id: string; bytes: number; documents: number }[];
}
export interface Quotas {
	tokens_per_month: number | null;
	tokens_per_user_per_month: number | null;
	storage_bytes: number | null;
	tokens_used_this_month: number;
	storage_used_bytes: number;
}
export type QuotaLimits = Pick<Quotas, 'tokens_per_month' | 'tokens_per_user_per_month' | 'storage_bytes'>;

export const usage = {
	tokensByUser: () => request<{ items: UsageRow[] }>('GET', '/api/v1/token-usage/?group_by=user'),
	storage: () => request<StorageUsage>('GET', '/api/v1/storage-usage/'),
	quotas: () => request<Quotas>('GET', '/api/v1/quotas/'),
	setQuotas: (limits: QuotaLimits) => request<Quotas>('PATCH', '/api/v1/quotas/', limits)
};

/** The organisation's own settings (GET/PATCH /api/v1/settings/; docs/personal-data.md, docs/governance.md). */
export interface TenantSettings {
	protect_personal_data: boolean;
	audit_retention_days: number; // only longer through this route: the sysadmin shortens it
	updated_at: string;
}
export const tenantSettings = {
	get: () => request<TenantSettings>('GET', '/api/v1/settings/'),
	update: (change: { protect_personal_data?: boolean; audit_retention_days?: number }) =>
		request<TenantSettings>('PATCH', '/api/v1/settings/', change)
};
