// A screen's long operation behind a button: busy while it runs (so the button is disabled and a
// Stop button shows), and its failure kept, in the one shape every error has, for the panel.

import * as ipc from './ipc';

export class Task {
  busy = $state(false);
  error = $state<ipc.IpcError | null>(null);

  /** Runs `work` unless one is already running; a failure becomes `error`. */
  async run(work: () => Promise<void>): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    this.error = null;
    try {
      await work();
    } catch (thrown) {
      this.error = ipc.toIpcError(thrown);
    } finally {
      this.busy = false;
    }
  }

  /** The message for a form field the Rust side refused, if it is `field`. */
  fieldError(field: string): string | null {
    return this.error?.field === field ? this.error.message : null;
  }
}
