/** A conversation as the chat page shows it: one turn per question, from the saved session or a live stream. */
import type { Question, Reference } from './api';
import type { Outcome } from './stream';

/** The stream's `error` code of an answer its asker stopped (saved with status `cancelled`). */
export const STOPPED_CODE = 'answer_cancelled';

export interface Turn {
	key: string; // stable for the list: the question id once known
	questionId: string | null;
	question: string;
	answer: string;
	references: Reference[];
	status: 'sending' | 'streaming' | 'completed' | 'failed' | 'stopped';
	error: { code: string; message: string } | null;
	partial: boolean;
	feedback: 1 | -1 | null;
	feedbackText: string;
}

export function turnOf(q: Question): Turn {
	const status = q.status === 'cancelled' ? 'stopped' : q.status === 'completed' || q.status === 'failed' ? q.status : 'streaming';
	return {
		key: q.id,
		questionId: q.id,
		question: q.question,
		answer: q.answer,
		references: q.references,
		status,
		error: q.error,
		partial: q.partial,
		feedback: q.feedback?.value ?? null,
		feedbackText: q.feedback?.text ?? ''
	};
}

/** A turn's status from its stream's outcome: a stopped answer is not a failure (no error, no retry). */
export function statusOf(outcome: Outcome): Turn['status'] {
	if (outcome.kind === 'streaming') return 'streaming';
	if (outcome.kind === 'done') return 'completed';
	return outcome.code === STOPPED_CODE ? 'stopped' : 'failed';
}

/** Sessions whose name holds every word of the search, case- and accent-insensitively. */
export function matchesSearch(name: string, search: string): boolean {
	const fold = (s: string) => s.toLocaleLowerCase().normalize('NFD').replace(/\p{M}/gu, '');
	const hay = fold(name);
	return fold(search).split(/\s+/).filter(Boolean).every((word) => hay.includes(word));
}
