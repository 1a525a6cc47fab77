import { describe, expect, it } from 'vitest';
import { toIpcError } from './ipc';

describe('toIpcError', () => {
  it('keeps an error from the Rust side as it is', () => {
    const error = { code: 'relayDamaged', message: 'the carried relay is damaged', hint: 'reinstall' };
    expect(toIpcError(error)).toEqual(error);
  });

  it('turns anything else into an internal error with its text', () => {
    expect(toIpcError('command about not found')).toMatchObject({
      code: 'internal',
      message: 'command about not found',
    });
    expect(toIpcError(new Error('boom')).message).toBe('boom');
    expect(toIpcError({ code: 'madeUp', message: 'x' }).code).toBe('internal');
    expect(toIpcError(undefined).hint).not.toBe('');
  });
});
