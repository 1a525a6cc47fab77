// The message catalogue: `t(key, params)` returns the text for the current language.
//
// Each language is a file beside en.ts typed `Catalogue`, so TypeScript refuses one with a key
// missing or unknown, and the catalogue test refuses one whose placeholders or plural forms
// differ from English's. A message is plain text with `{name}` placeholders, and where a number
// changes the words, an ICU plural: `{count, plural, one {# file} other {# files}}` (`#` is the
// number; the forms are the language's own — Russian has one, few, many and other; Chinese only
// other). Numbers are written the language's way (`12,5` in Russian), and so are dates: use
// `formatDate` and `formatTime`, never `toLocaleString` with the system's locale.

import { en, type MessageKey } from './en';
import { kk } from './kk';
import { ru } from './ru';
import { zh } from './zh';
import type { Language, Localized } from '../generated/ipc';

export type { MessageKey, Language };
export type Catalogue = Record<MessageKey, string>;
export type Params = Record<string, string | number>;

interface Entry {
  /** The language's name in itself, as the picker shows it. */
  name: string;
  /** The BCP 47 locale for numbers, dates and plural rules. */
  locale: string;
  messages: Catalogue;
}

export const catalogues: Record<Language, Entry> = {
  en: { name: 'English', locale: 'en', messages: en },
  kk: { name: 'Қазақша', locale: 'kk-KZ', messages: kk },
  ru: { name: 'Русский', locale: 'ru-RU', messages: ru },
  zh: { name: '简体中文', locale: 'zh-CN', messages: zh },
};

export const LANGUAGES = Object.keys(catalogues) as Language[];

export function isLanguage(code: string): code is Language {
  return code in catalogues;
}

// Reactive, so every `t(...)` in a template follows a change of language.
const language = $state<{ code: Language }>({ code: 'en' });

/** The current language's code. */
export function currentLanguage(): Language {
  return language.code;
}

/** The current language's locale (for `lang` attributes and `Intl`). */
export function currentLocale(): string {
  return catalogues[language.code].locale;
}

/** Switches the language; unknown codes keep the current one. */
export function setLanguage(code: string): void {
  if (isLanguage(code)) {
    language.code = code;
    if (typeof document !== 'undefined') document.documentElement.lang = currentLocale();
  }
}

/** A number the current language's way; four-digit numbers are not grouped (`2024`, `4096`). */
export function formatNumber(value: number, locale: string = currentLocale()): string {
  return new Intl.NumberFormat(locale, { maximumFractionDigits: 1, useGrouping: 'min2' }).format(value);
}

/** A date (and by default its time) the current language's way. */
export function formatDate(
  when: Date | number,
  options: Intl.DateTimeFormatOptions = { dateStyle: 'medium', timeStyle: 'short' },
): string {
  return new Intl.DateTimeFormat(currentLocale(), options).format(when);
}

/** A time of day the current language's way. */
export function formatTime(when: Date | number): string {
  return formatDate(when, { timeStyle: 'short' });
}

/** A text the engine's data gives in every language (a provider's instructions), in the current
 * one. */
export function localized(text: Localized): string {
  return text[language.code];
}

/** The text for `key` in the current language, its placeholders filled from `params`. */
export function t(key: MessageKey, params: Params = {}): string {
  return format(catalogues[language.code].messages[key] ?? en[key], params, currentLocale());
}

/** Fills a message's placeholders and plurals; an unknown placeholder stays visible. */
export function format(template: string, params: Params, locale: string): string {
  const number = (value: string | number) => (typeof value === 'number' ? formatNumber(value, locale) : value);
  let out = '';
  let at = 0;
  while (at < template.length) {
    const open = template.indexOf('{', at);
    if (open < 0) break;
    out += template.slice(at, open);
    const close = matching(template, open);
    const inner = template.slice(open + 1, close);
    const plural = /^(\w+),\s*plural,(.*)$/s.exec(inner);
    if (plural) {
      const [, name, body] = plural as unknown as [string, string, string];
      const forms = pluralForms(body);
      const value = params[name];
      if (typeof value === 'number') {
        const form = forms[`=${value}`] ?? forms[new Intl.PluralRules(locale).select(value)] ?? forms.other ?? '';
        out += format(form.replaceAll('#', number(value)), params, locale);
      } else {
        out += `{${name}}`;
      }
    } else {
      const name = inner.trim();
      out += name in params ? number(params[name] as string | number) : `{${inner}}`;
    }
    at = close + 1;
  }
  return out + template.slice(at);
}

/** The index of the `}` that closes the `{` at `open` (or the end, for a broken template). */
function matching(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return text.length;
}

/** `one {…} other {…}` → { one: '…', other: '…' }. */
export function pluralForms(body: string): Record<string, string> {
  const forms: Record<string, string> = {};
  const selector = /\s*(=\d+|\w+)\s*\{/y;
  let at = 0;
  while (at < body.length) {
    selector.lastIndex = at;
    const found = selector.exec(body);
    if (!found) break;
    const open = selector.lastIndex - 1;
    const close = matching(body, open);
    forms[found[1] as string] = body.slice(open + 1, close);
    at = close + 1;
  }
  return forms;
}

/** The placeholders a message uses, and for each plural the forms it gives: what the catalogue
 * test compares between languages. */
export function placeholders(template: string): { names: Set<string>; plurals: Map<string, string[]> } {
  const names = new Set<string>();
  const plurals = new Map<string, string[]>();
  let at = 0;
  while (at < template.length) {
    const open = template.indexOf('{', at);
    if (open < 0) break;
    const close = matching(template, open);
    const inner = template.slice(open + 1, close);
    const plural = /^(\w+),\s*plural,(.*)$/s.exec(inner);
    if (plural) {
      const [, name, body] = plural as unknown as [string, string, string];
      names.add(name);
      const forms = pluralForms(body);
      plurals.set(name, Object.keys(forms));
      for (const form of Object.values(forms)) {
        const nested = placeholders(form);
        for (const n of nested.names) names.add(n);
      }
    } else {
      names.add(inner.trim());
    }
    at = close + 1;
  }
  return { names, plurals };
}
