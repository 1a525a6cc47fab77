import { describe, expect, it } from 'vitest';
import { errorCodes, toIpcError } from './ipc';

describe('toIpcError', () => {
  it('keeps an error from the Rust side as it is', () => {
    const error = { code: 'relayDamaged', detail: 'the carried relay is damaged' };
    expect(toIpcError(error)).toEqual(error);
  });

  it('turns anything else into an internal error with its text', () => {
    expect(toIpcError('command about not found')).toEqual({ code: 'internal', detail: 'command about not found' });
    expect(toIpcError(new Error('boom'))).toEqual({ code: 'internal', detail: 'boom' });
    expect(toIpcError({ code: 'madeUp', message: 'x' }).code).toBe('internal');
    expect(toIpcError(undefined)).toEqual({ code: 'internal', detail: 'undefined' });
  });

  it('knows every code the generated type has', () => {
    expect(errorCodes).toContain('invalidInput');
    expect(new Set(errorCodes).size).toBe(errorCodes.length);
  });
});
