import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { ProfileView } from './ipc';
import type { StepId } from './steps';

// The Rust side, played by a small in-memory profile with the same rules as the engine's
// `Profile::go_to` (which has its own tests): this tests the UI state, not the backend.
const saved = { step: 'welcome' as StepId, reached: 'welcome' as StepId, failNext: false };
const order: StepId[] = ['welcome', 'provider', 'connect', 'check', 'domain', 'install', 'dns', 'certificate', 'test-email', 'dashboard'];
const view = (): ProfileView => ({
  ...saved,
  provider: null,
  setAside: null,
  unreadable: null,
  server: null,
  domain: null,
  installed: null,
  certificate: null,
  testEmail: null,
  testDelivered: false,
  dkimRotation: null,
  extraDomains: [],
  language: null,
  systemLanguage: 'en',
});

vi.mock('./ipc', async (importOriginal) => ({
  ...(await importOriginal<typeof import('./ipc')>()),
  loadProfile: async () => view(),
  goToStep: async (step: StepId) => {
    if (saved.failNext) {
      saved.failNext = false;
      throw { code: 'profileUnavailable', message: 'disk full', hint: 'free some space' };
    }
    saved.step = step;
    if (order.indexOf(step) > order.indexOf(saved.reached)) saved.reached = step;
    return view();
  },
}));

const { Wizard } = await import('./wizard.svelte');

describe('the wizard state', () => {
  beforeEach(() => {
    Object.assign(saved, { step: 'welcome', reached: 'welcome', failNext: false });
  });

  it('starts where the saved profile says', async () => {
    Object.assign(saved, { step: 'check', reached: 'domain' });
    const wizard = new Wizard();
    await wizard.load();
    expect(wizard.loaded).toBe(true);
    expect(wizard.step).toBe('check');
    expect(wizard.reached).toBe('domain');
  });

  it('goes forward and back, remembering the furthest step', async () => {
    const wizard = new Wizard();
    await wizard.load();
    await wizard.next();
    await wizard.next();
    expect(wizard.step).toBe('connect');
    await wizard.back();
    expect(wizard.step).toBe('provider');
    expect(wizard.reached).toBe('connect');
  });

  it('stays on Connect until a server is connected', async () => {
    Object.assign(saved, { step: 'connect', reached: 'connect' });
    const wizard = new Wizard();
    await wizard.load();
    expect(wizard.canContinue).toBe(false);
    await wizard.next();
    expect(wizard.step).toBe('connect');
    wizard.server = { host: '198.51.100.10', port: 22, user: 'root', fingerprint: 'SHA256:x', login: 'password' };
    expect(wizard.canContinue).toBe(true);
    await wizard.next();
    expect(wizard.step).toBe('check');
  });

  it('does not jump ahead past the furthest step reached', async () => {
    const wizard = new Wizard();
    await wizard.load();
    await wizard.goTo('dns');
    expect(wizard.step).toBe('welcome');
  });

  it('shows a failed save as an error and stays on the step', async () => {
    const wizard = new Wizard();
    await wizard.load();
    saved.failNext = true;
    await wizard.next();
    expect(wizard.step).toBe('welcome');
    expect(wizard.error?.code).toBe('profileUnavailable');
    expect(wizard.busy).toBe(false);
  });
});
