import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

declare const process: { env: Record<string, string | undefined> };

// `npm run dev` proxies the API to a running local stack (ENEO_API, default http://127.0.0.1:8000).
const api = process.env.ENEO_API ?? 'http://127.0.0.1:8000';

export default defineConfig({
	plugins: [sveltekit()],
	server: { proxy: { '/api': api, '/app-config.json': api } },
	build: { target: 'es2022', reportCompressedSize: false },
	test: { include: ['src/**/*.test.ts'], environment: 'node' }
});
