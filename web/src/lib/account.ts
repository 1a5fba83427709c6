/** The caller's own account: password change and API keys (docs/auth.md, docs/api_keys if any). */
import { request, type Page } from './api';
import { session, type TokenAnswer } from './session';

export interface ApiKey {
	id: string;
	name: string;
	prefix: string;
	last4: string;
	scope: 'user' | 'assistant';
	assistant_id: string | null;
	created_at: string;
	expires_at: string | null;
	revoked_at: string | null;
	last_used_at: string | null;
}
export interface ApiKeyCreated extends ApiKey {
	key: string; // the secret, shown this once
}

export interface TotpEnrolment {
	secret: string;
	otpauth_uri: string;
}

export const account = {
	/** Every session ends, this one too; the answer is this page's new session (its refresh token went
	 * into the cookie, which the request carried), so keep its access token. */
	async changePassword(current: string, next: string): Promise<void> {
		const answer = await request<TokenAnswer>('POST', '/api/v1/users/me/password/', {
			current_password: current,
			new_password: next
		});
		session.accept(answer);
	},
	keys: () => request<Page<ApiKey>>('GET', '/api/v1/api-keys/?limit=100'),
	createKey: (name: string) => request<ApiKeyCreated>('POST', '/api/v1/api-keys/', { name }),
	revokeKey: (id: string) => request<ApiKey>('DELETE', `/api/v1/api-keys/${id}/`),
	/** The second factor (docs/auth.md): start with the password, confirm with the app's first code. */
	startTotp: (password: string) => request<TotpEnrolment>('POST', '/api/v1/users/me/totp/', { password }),
	confirmTotp: (code: string) =>
		request<{ recovery_codes: string[] }>('POST', '/api/v1/users/me/totp/confirm/', { code }),
	renewRecoveryCodes: (code: string) =>
		request<{ recovery_codes: string[] }>('POST', '/api/v1/users/me/totp/recovery-codes/', { code }),
	disableTotp: (password: string, code: string) =>
		request<void>('POST', '/api/v1/users/me/totp/disable/', { password, code }),
	acceptInvitation: (token: string, password: string) =>
		request<unknown>('POST', '/api/v1/users/invitations/accept/', { token, password })
};
