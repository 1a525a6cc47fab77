// What every real-window test needs: tauri-driver started with a private config directory,
// named tests with timings, screenshots, and a bounded clean-up.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { WebDriver, sleep } from './webdriver.mjs';

export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this through ./dev test)`);
  return value;
};

// axe-core from the UI's dev dependencies, read once and injected into the page for each audit.
let axe;
const axeSource = () => (axe ??= readFileSync(new URL('../../ui/node_modules/axe-core/axe.min.js', import.meta.url), 'utf8'));

async function waitForPort(port, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await sleep(100);
  }
  throw new Error(`tauri-driver did not listen on port ${port} within ${timeoutMs} ms`);
}

/**
 * Starts tauri-driver with a fresh config directory (the app's profile and settings live in
 * `<configHome>/org.outpost.desktop`), so a test never touches the developer's own.
 */
export async function open({ port = 4444, driverCommand = [env('TAURI_DRIVER')] } = {}) {
  const configHome = mkdtempSync(join(tmpdir(), 'outpost-gui-'));
  const appConfig = join(configHome, 'org.outpost.desktop');
  // `driverCommand` runs tauri-driver some other way (inside the clean root, for the package).
  const [command, ...args] = driverCommand;
  const driverProcess = spawn(command, [...args, '--port', String(port)], {
    stdio: ['ignore', 'inherit', 'inherit'],
    // Its own home too: the login item (autostart) is written under ~/.config/autostart.
    env: { ...process.env, XDG_CONFIG_HOME: configHome, HOME: configHome },
  });
  const driver = new WebDriver(`http://127.0.0.1:${port}`);
  const out = env('GUI_OUT');
  const results = [];
  const audited = [];
  const reachable = [];
  await waitForPort(port, 20_000);
  return {
    driver,
    appConfig,
    async shot(name) {
      writeFileSync(join(out, `${name}.png`), await driver.screenshot());
    },
    /** axe-core over the window as it is now: a serious or critical violation fails. */
    async accessibility(where) {
      const violations = await driver.execute(`${axeSource()}
        return axe.run(document, { resultTypes: ['violations'] }).then((result) => result.violations
          .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
          .map((violation) => ({ rule: violation.id, impact: violation.impact, help: violation.help,
            at: violation.nodes.slice(0, 3).map((node) => node.target.join(' ') + ' ' + node.failureSummary) })));`);
      if (violations.length) throw new Error(`axe on ${where}: ${JSON.stringify(violations, null, 1)}`);
      audited.push(where);
    },
    /** Tab from the top through the window as it is now: every enabled, visible control is
     * reached (a radio group once: the arrows move within it), and each shows a focus ring of at
     * least 2 px. Bounded: twice as many presses as controls, plus ten. */
    async keyboard(where) {
      const controls = await driver.execute(`let index = 0;
        const keys = new Set();
        for (const element of document.querySelectorAll('button, select, input, a[href], textarea, summary')) {
          delete element.dataset.kb;
          if (element.matches(':disabled') || element.offsetParent === null || element.closest('[inert]')) continue;
          const key = element.type === 'radio' && element.name ? 'radio:' + element.name : String(index++);
          element.dataset.kb = key;
          keys.add(key);
        }
        if (document.activeElement) document.activeElement.blur();
        document.body.focus();
        return [...keys];`);
      const seen = new Map();
      for (let presses = 0; presses < 2 * controls.length + 10 && seen.size < controls.length; presses += 1) {
        await driver.press('\uE004');
        const focused = await driver.execute(`const element = document.activeElement;
          if (!element || !element.dataset.kb) return null;
          const style = getComputedStyle(element);
          return { key: element.dataset.kb, what: element.dataset.testid || element.outerHTML.slice(0, 80),
            ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2 };`);
        if (focused) seen.set(focused.key, focused);
      }
      const missed = await driver.execute(`const seen = new Set(${JSON.stringify([...seen.keys()])});
        return [...document.querySelectorAll('[data-kb]')].filter((element) => !seen.has(element.dataset.kb))
          .map((element) => element.dataset.testid || element.outerHTML.slice(0, 80));`);
      if (missed.length) throw new Error(`${where}: Tab never reaches ${JSON.stringify(missed)}`);
      const ringless = [...seen.values()].filter((focused) => !focused.ring).map((focused) => focused.what);
      if (ringless.length) throw new Error(`${where}: no visible focus on ${JSON.stringify(ringless)}`);
      reachable.push(`${where} (${controls.length})`);
    },
    /** The texts that do not fit their box (a cut-off button or label), for screenshots in a
     * language whose words are longer than English's. */
    async overflowing() {
      return driver.execute(`return [...document.querySelectorAll('button, label, h1, h2, th, .badge, select, [data-testid^=stepper-]')]
        .filter((element) => element.offsetParent !== null && (element.scrollWidth > element.clientWidth + 1 || element.scrollHeight > element.clientHeight + 2) && getComputedStyle(element).overflow !== 'visible')
        .map((element) => element.outerHTML.slice(0, 120));`);
    },
    async test(name, body) {
      const started = Date.now();
      try {
        await body();
        results.push({ name, ok: true });
        console.log(`ok   ${name} (${Date.now() - started} ms)`);
      } catch (error) {
        results.push({ name, ok: false });
        console.log(`FAIL ${name}\n     ${error.stack ?? error}`);
      }
    },
    /** Records an error raised outside any test (the app did not start, say) as a failure. */
    crashed(error) {
      results.push({ name: 'outside a test', ok: false });
      console.log(`FAIL outside a test\n     ${error.stack ?? error}`);
    },
    /** Closes everything and exits with the tests' verdict; no test run at all is a failure. */
    async finish() {
      await driver.stop().catch(() => {});
      // The app's home is this directory too: wait for the driver (and the app under it) to be
      // gone before removing it, then retry while a late write still lands (bounded).
      const exited = new Promise((resolve) => driverProcess.once('exit', resolve));
      driverProcess.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      rmSync(configHome, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
      const failed = results.filter((result) => !result.ok).length;
      if (reachable.length) console.log(`keyboard: every control reached, each with a visible focus, on ${reachable.join(', ')}`);
      if (audited.length) console.log(`axe: no serious or critical violation on ${audited.length} screens: ${audited.join(', ')}`);
      console.log(`gui: ${results.length - failed} passed, ${failed} failed`);
      console.log(`screenshots: ${out}`);
      process.exit(failed === 0 && results.length > 0 ? 0 : 1);
    },
  };
}
