// A single-page app: nothing is rendered on a server, nothing prerendered but the fallback page.
export const ssr = false;
export const prerender = false;
