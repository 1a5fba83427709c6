/** All user-visible text, in Swedish and English. Swedish is the default for a browser whose language is
 * Swedish (and for any browser that prefers neither); the choice is kept in localStorage. */
import { writable, derived, get } from 'svelte/store';

export type Lang = 'sv' | 'en';

const sv = {
	'app.name': 'Eneo',
	'app.skip': 'Hoppa till innehållet',
	'lang.label': 'Språk',
	'lang.sv': 'Svenska',
	'lang.en': 'English',
	'nav.chat': 'Chatt',
	'nav.signout': 'Logga ut',
	'nav.main': 'Huvudmeny',
	'login.title': 'Logga in',
	'login.email': 'E-postadress',
	'login.password': 'Lösenord',
	'login.submit': 'Logga in',
	'login.busy': 'Loggar in…',
	'login.intro': 'Logga in med ditt konto i organisationen.',
	'login.expired': 'Din session har gått ut. Logga in igen.',
	'error.invalid_credentials': 'Fel e-postadress eller lösenord.',
	'error.tenant_suspended': 'Organisationens konto är avstängt. Kontakta din administratör.',
	'error.user_deactivated': 'Ditt konto är inaktiverat. Kontakta din administratör.',
	'error.account_locked': 'Kontot är tillfälligt låst efter för många misslyckade inloggningar. Försök igen senare.',
	'error.rate_limited': 'För många försök. Vänta {seconds} sekunder och försök igen.',
	'error.network': 'Kunde inte nå servern. Kontrollera anslutningen och försök igen.',
	'error.unknown': 'Något gick fel ({code}).',
	'error.validation_error': 'Fyll i alla fält.',
	'chat.title': 'Chatt',
	'chat.assistant': 'Assistent',
	'chat.noAssistants': 'Det finns ingen assistent du kan använda än. Be en administratör skapa en.',
	'chat.history': 'Konversationer',
	'chat.search': 'Sök bland konversationer',
	'chat.new': 'Ny konversation',
	'chat.delete': 'Ta bort konversationen {name}',
	'chat.confirmDelete': 'Ta bort konversationen ”{name}”?',
	'chat.empty': 'Inga konversationer.',
	'chat.question': 'Din fråga',
	'chat.placeholder': 'Skriv en fråga…',
	'chat.send': 'Skicka',
	'chat.you': 'Du',
	'chat.answering': 'Svarar…',
	'chat.answerFrom': 'Svar från {name}',
	'chat.copy': 'Kopiera svaret',
	'chat.copied': 'Kopierat',
	'chat.regenerate': 'Svara igen',
	'chat.good': 'Bra svar',
	'chat.bad': 'Dåligt svar',
	'chat.comment': 'Kommentar (valfri)',
	'chat.sendFeedback': 'Skicka omdöme',
	'chat.thanks': 'Tack för ditt omdöme.',
	'chat.failed': 'Svaret misslyckades: {reason}',
	'chat.partial': 'Svaret avbröts, det som kom visas ovan.',
	'chat.retry': 'Försök igen',
	'chat.sources': 'Källor',
	'chat.source': 'Källa {n}: {title}',
	'chat.page': 'sida {page}',
	'chat.passage': 'Avsnitt {n}',
	'chat.openDocument': 'Visa dokumentet',
	'chat.close': 'Stäng',
	'chat.reconnecting': 'Anslutningen bröts, återansluter…',
	'chat.loading': 'Laddar…',
	'reason.provider_rate_limited': 'modelltjänsten har för hög belastning just nu',
	'reason.provider_unavailable': 'modelltjänsten är inte tillgänglig just nu',
	'reason.provider_timeout': 'modelltjänsten svarade inte i tid',
	'reason.provider_unreachable': 'modelltjänsten gick inte att nå',
	'reason.provider_stream_interrupted': 'anslutningen till modelltjänsten bröts',
	'reason.local_model_unavailable': 'den lokala modellen är inte igång',
	'reason.answer_timeout': 'svaret tog för lång tid',
	'reason.model_unavailable': 'modellen är inte längre tillgänglig',
	'reason.question_too_long': 'frågan är för lång för modellen',
	'reason.answer_lost': 'svaret gick förlorat',
	'reason.internal_error': 'ett fel uppstod hos oss',
	'reason.provider_auth_failed': 'modelltjänsten godtog inte nyckeln; kontakta din administratör',
	'reason.provider_model_not_found': 'modellen finns inte hos modelltjänsten; kontakta din administratör',
	'reason.provider_bad_request': 'modelltjänsten avvisade frågan',
	'reason.provider_misconfigured': 'modelltjänsten är felinställd; kontakta din administratör',
	'reason.retrieval_failed': 'kunskapskällorna gick inte att söka i',
	'reason.network': 'servern gick inte att nå',
	'reason.unknown': 'okänt fel ({code})'
} as const;

export type Key = keyof typeof sv;

const en: Record<Key, string> = {
	'app.name': 'Eneo',
	'app.skip': 'Skip to content',
	'lang.label': 'Language',
	'lang.sv': 'Svenska',
	'lang.en': 'English',
	'nav.chat': 'Chat',
	'nav.signout': 'Sign out',
	'nav.main': 'Main menu',
	'login.title': 'Sign in',
	'login.email': 'E-mail address',
	'login.password': 'Password',
	'login.submit': 'Sign in',
	'login.busy': 'Signing in…',
	'login.intro': "Sign in with your organisation's account.",
	'login.expired': 'Your session has expired. Please sign in again.',
	'error.invalid_credentials': 'Wrong e-mail address or password.',
	'error.tenant_suspended': "Your organisation's account is suspended. Contact your administrator.",
	'error.user_deactivated': 'Your account is deactivated. Contact your administrator.',
	'error.account_locked': 'The account is locked for a while after too many failed sign-ins. Try again later.',
	'error.rate_limited': 'Too many attempts. Wait {seconds} seconds and try again.',
	'error.network': 'Could not reach the server. Check your connection and try again.',
	'error.unknown': 'Something went wrong ({code}).',
	'error.validation_error': 'Fill in all fields.',
	'chat.title': 'Chat',
	'chat.assistant': 'Assistant',
	'chat.noAssistants': 'There is no assistant you can use yet. Ask an administrator to create one.',
	'chat.history': 'Conversations',
	'chat.search': 'Search conversations',
	'chat.new': 'New conversation',
	'chat.delete': 'Delete the conversation {name}',
	'chat.confirmDelete': 'Delete the conversation “{name}”?',
	'chat.empty': 'No conversations.',
	'chat.question': 'Your question',
	'chat.placeholder': 'Type a question…',
	'chat.send': 'Send',
	'chat.you': 'You',
	'chat.answering': 'Answering…',
	'chat.answerFrom': 'Answer from {name}',
	'chat.copy': 'Copy the answer',
	'chat.copied': 'Copied',
	'chat.regenerate': 'Regenerate',
	'chat.good': 'Good answer',
	'chat.bad': 'Bad answer',
	'chat.comment': 'Comment (optional)',
	'chat.sendFeedback': 'Send feedback',
	'chat.thanks': 'Thank you for your feedback.',
	'chat.failed': 'The answer failed: {reason}',
	'chat.partial': 'The answer broke off; what arrived is shown above.',
	'chat.retry': 'Try again',
	'chat.sources': 'Sources',
	'chat.source': 'Source {n}: {title}',
	'chat.page': 'page {page}',
	'chat.passage': 'Passage {n}',
	'chat.openDocument': 'Show the document',
	'chat.close': 'Close',
	'chat.reconnecting': 'Connection lost, reconnecting…',
	'chat.loading': 'Loading…',
	'reason.provider_rate_limited': 'the model service is overloaded right now',
	'reason.provider_unavailable': 'the model service is unavailable right now',
	'reason.provider_timeout': 'the model service did not answer in time',
	'reason.provider_unreachable': 'the model service could not be reached',
	'reason.provider_stream_interrupted': 'the connection to the model service broke',
	'reason.local_model_unavailable': 'the local model is not running',
	'reason.answer_timeout': 'the answer took too long',
	'reason.model_unavailable': 'the model is no longer available',
	'reason.question_too_long': 'the question is too long for the model',
	'reason.answer_lost': 'the answer was lost',
	'reason.internal_error': 'an error occurred on our side',
	'reason.provider_auth_failed': 'the model service did not accept its key; contact your administrator',
	'reason.provider_model_not_found': 'the model service does not have the model; contact your administrator',
	'reason.provider_bad_request': 'the model service refused the question',
	'reason.provider_misconfigured': 'the model service is misconfigured; contact your administrator',
	'reason.retrieval_failed': 'the knowledge sources could not be searched',
	'reason.network': 'the server could not be reached',
	'reason.unknown': 'unknown error ({code})'
};

export const dictionaries: Record<Lang, Record<Key, string>> = { sv, en };

const STORAGE_KEY = 'eneo.lang';

/** The language for a browser with no saved choice: English only when the browser prefers English over
 * Swedish; Swedish otherwise (a Swedish public-sector product). */
export function pickLanguage(saved: string | null, preferred: readonly string[]): Lang {
	if (saved === 'sv' || saved === 'en') return saved;
	for (const tag of preferred) {
		const base = tag.toLowerCase().split('-')[0];
		if (base === 'sv' || base === 'en') return base;
	}
	return 'sv';
}

function initial(): Lang {
	if (typeof window === 'undefined') return 'sv';
	let saved: string | null = null;
	try {
		saved = localStorage.getItem(STORAGE_KEY);
	} catch {
		/* storage blocked: no saved choice */
	}
	return pickLanguage(saved, navigator.languages ?? [navigator.language]);
}

export const lang = writable<Lang>(initial());

lang.subscribe((value) => {
	if (typeof document !== 'undefined') document.documentElement.lang = value;
});

export function setLanguage(value: Lang): void {
	lang.set(value);
	try {
		localStorage.setItem(STORAGE_KEY, value);
	} catch {
		/* not kept, still switched */
	}
}

export function translate(language: Lang, key: Key, params: Record<string, string | number> = {}): string {
	const text = dictionaries[language][key] ?? key;
	return text.replace(/\{(\w+)\}/g, (_, name: string) => String(params[name] ?? `{${name}}`));
}

/** `$t('key', {param})` in components. */
export const t = derived(lang, ($lang) => (key: Key, params?: Record<string, string | number>) =>
	translate($lang, key, params));

/** A message for an API error code: its own text where we have one, else the server's message. */
export function errorText(language: Lang, code: string, serverMessage: string, retryAfter?: number): string {
	if (code === 'rate_limited' || code === 'too_many_requests')
		return translate(language, 'error.rate_limited', { seconds: retryAfter ?? 60 });
	const key = `error.${code}` as Key;
	if (key in dictionaries[language]) return translate(language, key);
	return serverMessage || translate(language, 'error.unknown', { code });
}

export function reasonText(language: Lang, code: string): string {
	const key = `reason.${code}` as Key;
	if (key in dictionaries[language]) return translate(language, key);
	return translate(language, 'reason.unknown', { code });
}

export const currentLang = (): Lang => get(lang);
