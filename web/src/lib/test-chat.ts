/** The assistant editor's test pane, without its view: questions asked with the editor's draft in a session
 * of the pane's own, every answer followed on the pane's one WebSocket (`AnswerSocket`: resumed after a drop,
 * read over SSE when connections keep failing), as the chat page does. */
import { AnswerSocket, type SocketOptions } from './answer-socket';
import type { Asked, AssistantDraft, Question } from './api';
import type { Reassembly } from './stream';

export interface TestChatApi {
	ask: (assistant: string, session: string | null, question: string, key: string, draft?: AssistantDraft) => Promise<Asked>;
	question: (id: string) => Promise<Question>;
}

export interface Asking {
	assistantId: string;
	text: string;
	/** The Idempotency-Key: a retried request is the same question. */
	key: string;
	draft?: AssistantDraft;
	onAsked: (questionId: string) => void;
	onUpdate: (state: Reassembly) => void;
}

export class TestChat {
	/** The pane's conversation; null until the first answer (and again after `reset`). */
	session: string | null = null;
	private socket: AnswerSocket | null = null;
	private readonly streams = new Set<AbortController>();

	constructor(private readonly api: TestChatApi, private readonly socketOptions: () => SocketOptions | null) {}

	/** Connect when the user starts typing, so the first answer finds the socket open. */
	warm(): void {
		this.live()?.warm();
	}

	/** Ask with the draft and follow the answer to its end; rejects with the ask's `ApiError`. */
	async ask(asking: Asking): Promise<Reassembly | null> {
		const asked = await this.api.ask(asking.assistantId, this.session, asking.text, asking.key, asking.draft);
		this.session = asked.session_id;
		asking.onAsked(asked.question.id);
		const socket = this.live();
		if (!socket) return null; // no socket address yet: the page is still loading its configuration
		const controller = new AbortController();
		this.streams.add(controller);
		try {
			return await socket.follow({ questionId: asked.question.id, loadQuestion: this.api.question,
				signal: controller.signal, onUpdate: asking.onUpdate });
		} finally {
			this.streams.delete(controller);
		}
	}

	/** Another assistant: a new conversation; the answers followed stop, the socket stays for the next. */
	reset(): void {
		this.session = null;
		this.streams.forEach((c) => c.abort());
	}

	/** The pane is left: its socket closes. */
	close(): void {
		this.reset();
		this.socket?.close();
		this.socket = null;
	}

	private live(): AnswerSocket | null {
		if (!this.socket) {
			const options = this.socketOptions();
			if (options?.websocketUrl) this.socket = new AnswerSocket(options);
		}
		return this.socket;
	}
}
