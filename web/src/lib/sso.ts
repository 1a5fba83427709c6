/** Single sign-on (OpenID Connect) through the organisation's provider: the sign-in page's options, the
 * start and the callback (docs/auth.md, "Single sign-on"), and tenant admins' provider configuration. */
import { ApiError, errorOf, request } from './api';
import { session, type TokenAnswer } from './session';

export const TENANT_KEY = 'eneo.tenant'; // the organisation last signed in to (localStorage)
export const CALLBACK_PATH = '/sso/callback';

export interface SignInOptions {
	password_login: boolean;
	providers: { id: string; name: string }[];
}
export interface RoleMapping {
	value: string;
	role: 'admin' | 'user';
}
/** Members of `group_id` are those whose claim holds `value` (kept at every sign-in). */
export interface GroupMapping {
	value: string;
	group_id: string;
}
export interface SsoProvider {
	id: string;
	name: string;
	issuer: string;
	client_id: string;
	has_client_secret: boolean;
	scopes: string;
	role_claim: string;
	role_mappings: RoleMapping[];
	group_mappings: GroupMapping[];
	default_role: 'admin' | 'user';
	enabled: boolean;
	password_login: boolean;
}
export type SsoProviderInput = Partial<Omit<SsoProvider, 'id' | 'has_client_secret'>> & { client_secret?: string };

async function post<T>(path: string, body: unknown): Promise<T> {
	let response: Response;
	try {
		response = await fetch(path, {
			method: 'POST',
			credentials: 'same-origin',
			headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
			body: JSON.stringify(body)
		});
	} catch {
		throw new ApiError(0, 'network', 'network');
	}
	if (!response.ok) throw await errorOf(response);
	return (await response.json()) as T;
}

/** Parse `mappings` typed as lines of `value = role` (the admin form's text area). */
export function parseMappings(text: string): RoleMapping[] {
	return text
		.split('\n')
		.map((line) => line.trim())
		.filter(Boolean)
		.map((line) => {
			const at = line.lastIndexOf('=');
			const role = line.slice(at + 1).trim();
			return { value: line.slice(0, at).trim(), role: role === 'admin' ? 'admin' : 'user' } as RoleMapping;
		})
		.filter((m) => m.value);
}

export const formatMappings = (mappings: RoleMapping[]): string =>
	mappings.map((m) => `${m.value} = ${m.role}`).join('\n');

/** The editor's rows as the API takes them: rows without a value or a group are dropped. */
export const completeGroupMappings = (rows: GroupMapping[]): GroupMapping[] =>
	rows.map((r) => ({ value: r.value.trim(), group_id: r.group_id })).filter((r) => r.value && r.group_id);

export const sso = {
	async options(tenant: string): Promise<SignInOptions> {
		const response = await fetch(`/api/v1/sso/sign-in-options/?tenant=${encodeURIComponent(tenant)}`, {
			headers: { Accept: 'application/json' }
		});
		if (!response.ok) throw await errorOf(response);
		return (await response.json()) as SignInOptions;
	},
	/** Sends the browser to the provider; it comes back to CALLBACK_PATH. */
	async start(tenant: string, next: string): Promise<void> {
		const started = await post<{ authorization_url: string }>('/api/v1/sso/start/', {
			tenant,
			redirect_uri: `${location.origin}${CALLBACK_PATH}`
		});
		sessionStorage.setItem('eneo.sso.next', next);
		location.assign(started.authorization_url);
	},
	/** The provider's `code` and `state` for a session (refresh token in the cookie, as a password sign-in). */
	async finish(code: string, state: string): Promise<string> {
		session.accept(await post<TokenAnswer>('/api/v1/sso/callback/', { code, state, refresh_token_in: 'cookie' }));
		const next = sessionStorage.getItem('eneo.sso.next') ?? '/';
		sessionStorage.removeItem('eneo.sso.next');
		return next;
	},
	providers: () => request<SsoProvider[]>('GET', '/api/v1/sso/providers/'),
	create: (body: SsoProviderInput) => request<SsoProvider>('POST', '/api/v1/sso/providers/', body),
	update: (id: string, body: SsoProviderInput) => request<SsoProvider>('PATCH', `/api/v1/sso/providers/${id}/`, body),
	remove: (id: string) => request<void>('DELETE', `/api/v1/sso/providers/${id}/`)
};
