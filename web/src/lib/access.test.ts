import { describe, expect, it } from 'vitest';
import { administers, can } from './access';
import type { User } from './api';

const user = (permissions?: string[]): User =>
	({ id: 'u', tenant_id: 't', email: 'a@b.se', name: 'A', role: 'user', state: 'active', permissions }) as User;

describe('access', () => {
	it('shows a control only for a permission the role grants', () => {
		expect(can(user(['see_insights']), 'see_insights')).toBe(true);
		expect(can(user(['see_insights']), 'administer_users')).toBe(false);
		expect(can(user(), 'use_assistants')).toBe(false);
		expect(can(null, 'use_assistants')).toBe(false);
	});

	it('opens the administration for any administrative permission, not for the built-in user role', () => {
		expect(administers(user(['use_assistants', 'create_assistants', 'manage_collections', 'manage_websites']))).toBe(false);
		expect(administers(user(['use_assistants', 'administer_audit']))).toBe(true);
	});
});
