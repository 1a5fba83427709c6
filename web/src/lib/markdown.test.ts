import { describe, expect, it } from 'vitest';
import { citedReferences, renderAnswer } from './markdown';
import type { Reference } from './api';

const ref = (n: number, title = `Doc ${n}`): Reference => ({
	id: `00000000-0000-4000-8000-00000000000${n}`,
	title,
	chunk_index: n,
	page: null,
	score: 0.5,
	n
});

describe('renderAnswer: no HTML from the model', () => {
	it('shows tags as text', () => {
		const html = renderAnswer('Hi <script>alert(1)</script> <img src=x onerror=alert(1)>');
		expect(html).not.toContain('<script');
		expect(html).not.toContain('<img');
		expect(html).toContain('&lt;script&gt;');
	});

	it('drops javascript: and data: links and never renders images', () => {
		const html = renderAnswer('[a](javascript:alert(1)) [b](data:text/html,x) ![p](https://t.example/p.png)');
		expect(html).not.toMatch(/href="(javascript|data):/);
		expect(html).not.toContain('<img');
	});

	it('opens http links without the opener', () => {
		const html = renderAnswer('[Kommunen](https://www.example.se/)');
		expect(html).toContain('href="https://www.example.se/"');
		expect(html).toContain('rel="noopener noreferrer nofollow"');
	});

	it('renders code blocks escaped, keyboard-scrollable', () => {
		const html = renderAnswer('```python\nprint("<b>")\n```');
		expect(html).toContain('<pre tabindex="0"><code class="language-python">');
		expect(html).toContain('print(&quot;&lt;b&gt;&quot;)');
	});

	it('a language name cannot break out of its attribute', () => {
		const html = renderAnswer('```"><script>x\ncode\n```');
		expect(html).not.toContain('<script');
	});
});

describe('citations', () => {
	it('turns [n] of a known source into a chip and leaves others as text', () => {
		const html = renderAnswer('Enligt [1] och [7].', [ref(1, 'Riktlinjer <2024>')]);
		expect(html).toContain('<button type="button" class="cite" data-cite="1" aria-label="Riktlinjer &lt;2024&gt; [1]">1</button>');
		expect(html).toContain('[7]');
		expect(html).not.toContain('data-cite="7"');
	});

	it('does not take a markdown link for a citation', () => {
		const html = renderAnswer('[1](https://example.se/)', [ref(1)]);
		expect(html).not.toContain('data-cite');
		expect(html).toContain('href="https://example.se/"');
	});

	it('lists the cited sources once each, in order of first citation', () => {
		const refs = [ref(1), ref(2), ref(3)];
		expect(citedReferences('b [2], a [1], b again [2], unknown [9]', refs).map((r) => r.n)).toEqual([2, 1]);
	});
});
