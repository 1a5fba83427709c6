/** Tenant roles, permissions and user groups (docs/permissions.md): the API, and what the client shows by. */
import { request, type Page, type User } from './api';

export const PERMISSIONS = [
	'use_assistants',
	'create_assistants',
	'manage_collections',
	'manage_websites',
	'see_insights',
	'administer_users',
	'administer_models',
	'administer_audit'
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** The permissions that open a page of the administration. */
export const ADMIN_PERMISSIONS: readonly Permission[] = ['administer_users', 'administer_models', 'see_insights', 'administer_audit'];

/** Whether the signed-in user's role grants `permission` (the API decides; this only hides controls). */
export function can(user: User | null | undefined, permission: Permission): boolean {
	return !!user?.permissions?.includes(permission);
}

export const administers = (user: User | null | undefined): boolean => ADMIN_PERMISSIONS.some((p) => can(user, p));

export interface Role {
	id: string;
	name: string;
	builtin: boolean;
	permissions: Permission[];
}
export interface GroupMember {
	user_id: string;
	email: string;
	name: string;
}
export interface UserGroup {
	id: string;
	name: string;
	member_count: number;
}
export interface UserGroupDetail extends UserGroup {
	members: GroupMember[];
}

export const roles = {
	list: () => request<{ items: Role[] }>('GET', '/api/v1/roles/'),
	create: (name: string, permissions: Permission[]) => request<Role>('POST', '/api/v1/roles/', { name, permissions }),
	update: (id: string, body: { name?: string; permissions?: Permission[] }) =>
		request<Role>('PATCH', `/api/v1/roles/${id}/`, body),
	remove: (id: string) => request<void>('DELETE', `/api/v1/roles/${id}/`),
	assign: (userId: string, roleId: string) => request<User>('PATCH', `/api/v1/users/${userId}/`, { role_id: roleId })
};

export const groups = {
	list: () => request<Page<UserGroup>>('GET', '/api/v1/user-groups/?limit=100'),
	get: (id: string) => request<UserGroupDetail>('GET', `/api/v1/user-groups/${id}/`),
	create: (name: string) => request<UserGroupDetail>('POST', '/api/v1/user-groups/', { name }),
	rename: (id: string, name: string) => request<UserGroupDetail>('PATCH', `/api/v1/user-groups/${id}/`, { name }),
	remove: (id: string) => request<void>('DELETE', `/api/v1/user-groups/${id}/`),
	addMember: (id: string, userId: string) =>
		request<UserGroupDetail>('POST', `/api/v1/user-groups/${id}/members/`, { user_id: userId }),
	removeMember: (id: string, userId: string) => request<void>('DELETE', `/api/v1/user-groups/${id}/members/${userId}/`)
};
