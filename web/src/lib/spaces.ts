/** Spaces and their members (the spaces API). */
import { request, type Page, type User } from './api';

export type SpaceRole = 'viewer' | 'editor' | 'admin';
export const SPACE_ROLES: readonly SpaceRole[] = ['viewer', 'editor', 'admin'];

export interface Space {
	id: string;
	name: string;
	description: string;
	personal: boolean;
	my_role: SpaceRole;
	created_at: string;
	updated_at: string;
}
export interface Member {
	user_id: string;
	email: string;
	name: string;
	role: SpaceRole;
}
/** A user group as a member: each of its members has at least `role` in the space. */
export interface GroupMember {
	group_id: string;
	name: string;
	role: SpaceRole;
}
export interface SpaceDetail extends Space {
	members: Member[];
	group_members: GroupMember[];
}

/** Only a space admin changes members, name or deletes; a shared space only (a personal one has its owner). */
export const canManage = (space: Space): boolean => space.my_role === 'admin' && !space.personal;

export const spaces = {
	list: () => request<Page<Space>>('GET', '/api/v1/spaces/?limit=100'),
	get: (id: string) => request<SpaceDetail>('GET', `/api/v1/spaces/${id}/`),
	create: (name: string, description: string) => request<Space>('POST', '/api/v1/spaces/', { name, description }),
	remove: (id: string) => request<void>('DELETE', `/api/v1/spaces/${id}/`),
	addMember: (id: string, userId: string, role: SpaceRole) =>
		request<SpaceDetail>('POST', `/api/v1/spaces/${id}/members/`, { user_id: userId, role }),
	/** By e-mail, for a space admin who cannot list users: only the caller's organisation is searched. */
	addMemberByEmail: (id: string, email: string, role: SpaceRole) =>
		request<SpaceDetail>('POST', `/api/v1/spaces/${id}/members/`, { email, role }),
	setRole: (id: string, userId: string, role: SpaceRole) =>
		request<SpaceDetail>('PATCH', `/api/v1/spaces/${id}/members/${userId}/`, { role }),
	removeMember: (id: string, userId: string) => request<void>('DELETE', `/api/v1/spaces/${id}/members/${userId}/`),
	addGroup: (id: string, groupId: string, role: SpaceRole) =>
		request<SpaceDetail>('POST', `/api/v1/spaces/${id}/group-members/`, { group_id: groupId, role }),
	setGroupRole: (id: string, groupId: string, role: SpaceRole) =>
		request<SpaceDetail>('PATCH', `/api/v1/spaces/${id}/group-members/${groupId}/`, { role }),
	removeGroup: (id: string, groupId: string) => request<void>('DELETE', `/api/v1/spaces/${id}/group-members/${groupId}/`),
	/** The organisation's users, to pick a member from: tenant admins only (others get 403). */
	users: () => request<Page<User>>('GET', '/api/v1/users/?limit=100')
};
