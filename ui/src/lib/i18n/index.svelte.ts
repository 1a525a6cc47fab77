// The message catalogue: `t(key, params)` returns the text for the current language.
//
// To add a language, add a file beside en.ts typed `Partial<Catalogue>` and list it in
// `catalogues`; a missing key falls back to English, and the catalogue test reports it.

import { en, type MessageKey } from './en';

export type { MessageKey };
export type Catalogue = Record<MessageKey, string>;
export type Params = Record<string, string | number>;

export const catalogues: Record<string, { name: string; messages: Partial<Catalogue> }> = {
  en: { name: 'English', messages: en },
};

// Reactive, so every `t(...)` in a template follows a change of language.
const language = $state({ code: 'en' });

/** The current language's code. */
export function currentLanguage(): string {
  return language.code;
}

/** Switches the language; unknown codes keep the current one. */
export function setLanguage(code: string): void {
  if (code in catalogues) language.code = code;
}

/** The text for `key`, with `{name}` placeholders replaced from `params`. */
export function t(key: MessageKey, params: Params = {}): string {
  const template = catalogues[language.code]?.messages[key] ?? en[key];
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    name in params ? String(params[name]) : whole,
  );
}
