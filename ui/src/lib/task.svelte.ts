// A screen's long operation behind a button: busy while it runs (so the button is disabled and a
// Stop button shows), and its failure kept, in the one shape every error has, for the panel.

import * as ipc from './ipc';
import { problemText } from './i18n/words';

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

  /** What is wrong with `field` (in row `item` of a list, e.g. an alias), if the Rust side
   * refused it. */
  fieldError(field: ipc.Field, item?: number): string | null {
    const error = this.error;
    if (error?.code !== 'invalidInput' || error.field !== field || error.item !== item) return null;
    return problemText(error.field, error.problem);
  }

  /** A failure that is not about one form field (those show next to their field). */
  get panelError(): ipc.IpcError | null {
    return this.error?.code === 'invalidInput' ? null : this.error;
  }
}
