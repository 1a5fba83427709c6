import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** A single-page app: every route renders in the browser; index.html is the fallback for all paths
 * outside /api/ (the local stack and CloudFront both serve it so). */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		adapter: adapter({ pages: 'build', assets: 'build', fallback: 'index.html', strict: true }),
		// Hashes of SvelteKit's inline start-up script go into a CSP <meta> of the HTML: no 'unsafe-inline'.
		csp: {
			mode: 'hash',
			directives: {
				'default-src': ['self'],
				'script-src': ['self'],
				// the one inline style: the style attribute of SvelteKit's route announcer (a live region)
				'style-src': ['self', 'unsafe-hashes', 'sha256-S8qMpvofolR8Mpjy4kQvEm7m1q8clzU4dfDH0AmvZjo='],
				'img-src': ['self', 'data:'],
				'font-src': ['self'],
				// presigned uploads go straight to storage, another origin: S3 in AWS, the local stack's S3 on this
				// machine (whose own CSP header narrows this to the exact origin)
				'connect-src': ['self', 'ws:', 'wss:', 'https://*.amazonaws.com', 'http://127.0.0.1:*', 'http://localhost:*'],
				'object-src': ['none'],
				'base-uri': ['self'],
				'form-action': ['self']
			}
		},
		version: { pollInterval: 0 }
	}
};

export default config;
