/** Security classifications (docs/security-classifications.md): the organisation's ordered levels, and the
 * level a space or a model carries. Every change that can break the rule answers what it stopped. */
import { request } from './api';
import type { ModelKind } from './admin';

export interface Level {
	id: string;
	name: string;
	description: string;
	position: number; // 1 is the lowest
}
export interface Stopped {
	stopped_assistants: { id: string; name: string; space_id: string }[];
	stopped_collections?: { id: string; name: string; space_id: string; kind: string }[];
}
export interface ClassifiedSpace {
	id: string;
	name: string;
	personal: boolean;
	my_role: string;
	security_classification: { id: string; name: string; position: number } | null;
}
export interface ClassifiedModel {
	id: string;
	name: string;
	display_name?: string;
	security_classification_id: string | null;
}

const LEVELS = '/api/v1/security-classifications/';
const MODELS: Record<ModelKind, string> = {
	completion: '/api/v1/completion-models/',
	embedding: '/api/v1/embedding-models/',
	transcription: '/api/v1/transcription-models/'
};

/** The ids in the order after moving `id` one step (`-1` lower, `+1` higher); unchanged at either end. */
export function moved(ids: readonly string[], id: string, step: -1 | 1): string[] {
	const order = [...ids];
	const from = order.indexOf(id);
	const to = from + step;
	if (from < 0 || to < 0 || to >= order.length) return order;
	[order[from], order[to]] = [order[to], order[from]];
	return order;
}

/** Everything a change stopped, as names (assistants first); empty when it stopped nothing. */
export function stoppedNames(s: Stopped): string[] {
	return [...s.stopped_assistants.map((a) => a.name), ...(s.stopped_collections ?? []).map((c) => c.name)];
}

export const classifications = {
	list: () => request<{ items: Level[] }>('GET', LEVELS),
	create: (name: string, description: string) => request<Level>('POST', LEVELS, { name, description }),
	remove: (id: string) => request<void>('DELETE', `${LEVELS}${id}/`),
	reorder: (ids: string[]) => request<{ items: Level[] } & Stopped>('POST', `${LEVELS}reorder/`, { ids }),
	spaces: () => request<{ items: ClassifiedSpace[] }>('GET', '/api/v1/spaces/?limit=100'),
	classifySpace: (id: string, level: string | null) =>
		request<ClassifiedSpace & Stopped>('PATCH', `/api/v1/spaces/${id}/`, { security_classification_id: level }),
	models: (kind: ModelKind) =>
		request<{ items: ClassifiedModel[] }>('GET', `${MODELS[kind]}?limit=100&include_disabled=true`),
	classifyModel: (kind: ModelKind, id: string, level: string | null) =>
		request<ClassifiedModel & Partial<Stopped>>('PATCH', `${MODELS[kind]}${id}/`, { security_classification_id: level })
};
