import { describe, expect, it } from 'vitest';
import { catalogues, currentLanguage, setLanguage, t } from './i18n/index.svelte';
import { en, type MessageKey } from './i18n/en';
import { STEPS } from './steps';
import type { ErrorCode } from './ipc';

describe('the message catalogue', () => {
  it('titles and summarises every step', () => {
    for (const step of STEPS) {
      expect(en[`step.${step}.title` as MessageKey]).toBeTruthy();
      expect(en[`step.${step}.summary` as MessageKey]).toBeTruthy();
    }
  });

  it('titles every error code', () => {
    const codes: ErrorCode[] = ['profileUnavailable', 'relayDamaged', 'internal'];
    for (const code of codes) expect(en[`error.title.${code}` as MessageKey]).toBeTruthy();
  });

  it('has no empty messages and every other language only known keys', () => {
    for (const [key, text] of Object.entries(en)) expect(text.trim(), key).not.toBe('');
    for (const { messages } of Object.values(catalogues)) {
      for (const key of Object.keys(messages)) expect(key in en, key).toBe(true);
    }
  });

  it('fills placeholders and leaves unknown ones visible', () => {
    expect(t('nav.stepOf', { number: 2, total: 10 })).toBe('Step 2 of 10');
    expect(t('nav.stepOf', { number: 2 })).toBe('Step 2 of {total}');
  });

  it('keeps the current language when asked for one it does not have', () => {
    setLanguage('xx');
    expect(currentLanguage()).toBe('en');
  });
});
