// The wizard's state on the UI side: which step is on screen, how far the user got, and the
// last error. Every change goes through the Rust side, which saves it before we show it.

import * as ipc from './ipc';
import { Task } from './task.svelte';
import { nextStep, previousStep, canVisit, type StepId } from './steps';
import { setLanguage } from './i18n/index.svelte';

export class Wizard {
  step = $state<StepId>('welcome');
  reached = $state<StepId>('welcome');
  provider = $state<string | null>(null);
  server = $state<ipc.Server | null>(null);
  domain = $state<ipc.Domain | null>(null);
  installed = $state<ipc.Installed | null>(null);
  certificate = $state<ipc.CertificateChoice | null>(null);
  testEmail = $state<ipc.TestEmail | null>(null);
  testDelivered = $state(false);
  dkimRotation = $state<ipc.DkimRotation | null>(null);
  extraDomains = $state<ipc.ExtraDomain[]>([]);
  /** The server Outpost was just uninstalled from (said on the Install step until the next install). */
  uninstalledFrom = $state<string | null>(null);
  loaded = $state(false);
  private task = new Task();
  notice = $state<{ setAside: string | null; unreadable: string | null } | null>(null);

  async load(): Promise<void> {
    await this.run(async () => {
      const view = await ipc.loadProfile();
      this.apply(view);
      if (view.setAside || view.unreadable) {
        this.notice = { setAside: view.setAside, unreadable: view.unreadable };
      }
    });
    this.loaded = true;
  }

  async goTo(step: StepId): Promise<void> {
    if (step === this.step || !(canVisit(step, this.reached) || step === nextStep(this.step))) return;
    await this.run(async () => this.apply(await ipc.goToStep(step)));
  }

  async next(): Promise<void> {
    if (!this.canContinue) return;
    const step = nextStep(this.step);
    if (step) await this.goTo(step);
  }

  async back(): Promise<void> {
    const step = previousStep(this.step);
    if (step) await this.goTo(step);
  }

  /** Chooses a provider (null: "I already have a server") and saves it. */
  async chooseProvider(provider: string | null): Promise<void> {
    await this.run(async () => this.apply(await ipc.chooseProvider(provider)));
  }

  /** Switches to `language` at once and remembers it (a failure to save is not worth an error:
   * the next start follows the system again). */
  async chooseLanguage(language: ipc.Language): Promise<void> {
    setLanguage(language);
    await ipc.setLanguage(language).then((view) => this.apply(view), () => {});
  }

  dismissError(): void {
    this.task.error = null;
  }

  dismissNotice(): void {
    this.notice = null;
  }

  private apply(view: ipc.ProfileView): void {
    this.step = view.step;
    this.reached = view.reached;
    this.provider = view.provider;
    this.server = view.server;
    this.domain = view.domain;
    this.installed = view.installed;
    this.certificate = view.certificate;
    this.testEmail = view.testEmail;
    this.testDelivered = view.testDelivered;
    this.dkimRotation = view.dkimRotation;
    this.extraDomains = view.extraDomains;
    // The one the user picked, else the system's (which the Rust side reads: WebKit's own
    // navigator.language falls back to English where the system's locale is not installed).
    setLanguage(view.language ?? view.systemLanguage);
  }

  /** Takes a profile the Rust side returned after a step's own command. */
  update(view: ipc.ProfileView): void {
    this.apply(view);
  }

  /** For the steps whose result the next ones need: whether it is saved. */
  private made(step: StepId): boolean | undefined {
    switch (step) {
      case 'connect':
        return this.server !== null;
      case 'domain':
        return this.domain !== null;
      case 'install':
        return this.installed !== null;
      default:
        return undefined;
    }
  }

  /** Whether the current step is complete enough to go on. */
  get canContinue(): boolean {
    return this.made(this.step) ?? true;
  }

  /** Whether a step's work is done (for the sidebar's tick): its result is saved, or, for a step
   * that saves none, the user went past it. The steps not built yet are never done. */
  isDone(step: StepId): boolean {
    // A certificate can come later (the relay keeps trying): Next stays open, the tick waits.
    if (step === 'certificate') return this.certificate !== null;
    if (step === 'test-email') return this.testDelivered;
    if (step === 'dashboard') return false;
    return this.made(step) ?? canVisit(nextStep(step) ?? step, this.reached);
  }

  /** Whether a change is being saved. */
  get busy(): boolean {
    return this.task.busy;
  }

  /** The last change that failed. */
  get error(): ipc.IpcError | null {
    return this.task.error;
  }

  private run(work: () => Promise<void>): Promise<void> {
    return this.task.run(work);
  }
}

export const wizard = new Wizard();
