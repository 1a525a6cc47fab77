// A small W3C WebDriver client (no npm dependencies) for driving the app through tauri-driver.
// Every wait is bounded; every failure says what was being waited for.

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class WebDriver {
  /** @param {string} base e.g. http://127.0.0.1:4444 */
  constructor(base) {
    this.base = base;
    this.session = null;
  }

  async request(method, path, body) {
    const response = await fetch(`${this.base}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(60_000),
    });
    const payload = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = payload.value?.message ?? JSON.stringify(payload);
      throw new Error(`${method} ${path} failed (${response.status}): ${detail}`);
    }
    return payload.value;
  }

  sessionPath(path) {
    if (!this.session) throw new Error('no WebDriver session');
    return `/session/${this.session}${path}`;
  }

  /** Starts the app at `application` (an absolute path). */
  async start(application) {
    // tauri-driver starts WebKitWebDriver for each session and forwards to it at once; on a
    // busy machine the forward can come before WebKitWebDriver listens, and the request fails
    // without an answer. That is the harness's race, not the app's: try again, a few times.
    for (let attempt = 1; ; attempt++) {
      try {
        const value = await this.request('POST', '/session', {
          capabilities: { alwaysMatch: { 'tauri:options': { application } } },
        });
        this.session = value.sessionId;
        return;
      } catch (error) {
        if (attempt >= 3 || !(error instanceof TypeError)) throw error;
        console.log(`     (WebDriver session not ready, attempt ${attempt}: ${error.message}; retrying)`);
        await sleep(1000);
      }
    }
  }

  /** Closes the app. */
  async stop() {
    if (!this.session) return;
    await this.request('DELETE', this.sessionPath(''));
    this.session = null;
  }

  async find(selector) {
    const value = await this.request('POST', this.sessionPath('/element'), { using: 'css selector', value: selector });
    return value[ELEMENT];
  }

  /** Waits until `selector` matches an element, then returns it. */
  async waitFor(selector, { timeoutMs = 15_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let lastError;
    while (Date.now() < deadline) {
      try {
        return await this.find(selector);
      } catch (error) {
        lastError = error;
        await sleep(100);
      }
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${selector}: ${lastError?.message}`);
  }

  async text(selector) {
    const element = await this.waitFor(selector);
    return (await this.request('GET', this.sessionPath(`/element/${element}/text`))).trim();
  }

  /** Waits until the text of `selector` equals `expected`; returns it. */
  async waitForText(selector, expected, { timeoutMs = 15_000 } = {}) {
    const deadline = Date.now() + timeoutMs;
    let seen;
    while (Date.now() < deadline) {
      seen = await this.text(selector).catch(() => undefined);
      if (seen === expected) return seen;
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${selector} to read "${expected}"; it read "${seen}"`);
  }

  async click(selector) {
    const element = await this.waitFor(selector);
    // WebKitWebDriver scrolls only until the element shows at the edge, where the window's
    // fixed footer can cover its centre; a person would scroll it fully into view first.
    await this.execute('arguments[0].scrollIntoView({ block: "center" })', [{ [ELEMENT]: element }]);
    await this.request('POST', this.sessionPath(`/element/${element}/click`), {});
  }

  /** Replaces the value of the input `selector` with `text`, as typing would. */
  async type(selector, text) {
    const element = await this.waitFor(selector);
    await this.request('POST', this.sessionPath(`/element/${element}/clear`), {});
    await this.request('POST', this.sessionPath(`/element/${element}/value`), { text });
  }

  /** Presses and releases `key` (a WebDriver key code such as '\uE004', Tab) on whatever has
   * the focus, as a person at the keyboard would. */
  async press(key) {
    await this.request('POST', this.sessionPath('/actions'), {
      actions: [{ type: 'key', id: 'keyboard', actions: [{ type: 'keyDown', value: key }, { type: 'keyUp', value: key }] }],
    });
  }

  async execute(script, args = []) {
    return this.request('POST', this.sessionPath('/execute/sync'), { script, args });
  }

  /** PNG bytes of the window. Waits a moment first: the capture can lag one paint behind. */
  async screenshot() {
    await sleep(400);
    const base64 = await this.request('GET', this.sessionPath('/screenshot'));
    return Buffer.from(base64, 'base64');
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
