/** Answers are markdown written by a model: rendered with markdown-it with raw HTML off (any tag the model
 * writes is shown as text), links limited to http(s)/mailto and opened without the opener, and citations
 * `[n]` of a known source turned into numbered chips (buttons the chat page opens). */
import MarkdownIt from 'markdown-it';
import type { Reference } from './api';

const SAFE_URL = /^(https?:|mailto:)/i;

function build(): MarkdownIt {
	const md = new MarkdownIt({ html: false, linkify: true, breaks: false, typographer: false });
	md.validateLink = (url: string) => SAFE_URL.test(url.trim());
	const defaultLinkOpen =
		md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
	md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
		tokens[idx].attrSet('rel', 'noopener noreferrer nofollow');
		tokens[idx].attrSet('target', '_blank');
		return defaultLinkOpen(tokens, idx, options, env, self);
	};
	// Images would fetch from anywhere the model names (a tracking pixel); show their text instead.
	md.renderer.rules.image = (tokens, idx) => md.utils.escapeHtml(tokens[idx].content);
	md.inline.ruler.before('link', 'citation', (state, silent) => {
		const match = /^\[(\d{1,3})\](?!\()/.exec(state.src.slice(state.pos));
		if (!match) return false;
		const n = Number(match[1]);
		const refs = (state.env as { references?: Reference[] }).references ?? [];
		if (!refs.some((r) => r.n === n)) return false;
		if (!silent) {
			const token = state.push('citation', '', 0);
			token.meta = { n };
		}
		state.pos += match[0].length;
		return true;
	});
	md.renderer.rules.citation = (tokens, idx, _options, env) => {
		const n = tokens[idx].meta.n as number;
		const ref = (env as { references?: Reference[] }).references?.find((r) => r.n === n);
		const title = md.utils.escapeHtml(ref?.title ?? '');
		return `<button type="button" class="cite" data-cite="${n}" aria-label="${title} [${n}]">${n}</button>`;
	};
	md.renderer.rules.code_block = md.renderer.rules.fence = (tokens, idx) => {
		const token = tokens[idx];
		const lang = md.utils.escapeHtml(token.info.trim().split(/\s+/)[0] ?? '');
		const cls = lang ? ` class="language-${lang}"` : '';
		return `<pre tabindex="0"><code${cls}>${md.utils.escapeHtml(token.content)}</code></pre>\n`;
	};
	return md;
}

const md = build();

/** HTML for an answer; `references` decides which `[n]` become citation chips. */
export function renderAnswer(text: string, references: Reference[] = []): string {
	return md.render(text, { references });
}

/** The sources an answer cites, in order of first citation, each once (for the chips under it). */
export function citedReferences(text: string, references: Reference[]): Reference[] {
	const byN = new Map(references.map((r) => [r.n, r]));
	const seen = new Set<number>();
	const out: Reference[] = [];
	for (const match of text.matchAll(/\[(\d{1,3})\](?!\()/g)) {
		const ref = byN.get(Number(match[1]));
		if (ref && !seen.has(ref.n)) {
			seen.add(ref.n);
			out.push(ref);
		}
	}
	return out;
}
