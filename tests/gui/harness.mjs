// What every real-window test needs: tauri-driver started with a private config directory,
// named tests with timings, screenshots, and a bounded clean-up.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { WebDriver, sleep } from './webdriver.mjs';

export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this through ./dev test)`);
  return value;
};

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
export async function open({ port = 4444 } = {}) {
  const configHome = mkdtempSync(join(tmpdir(), 'outpost-gui-'));
  const appConfig = join(configHome, 'org.outpost.desktop');
  const driverProcess = spawn(env('TAURI_DRIVER'), ['--port', String(port)], {
    stdio: ['ignore', 'inherit', 'inherit'],
    // Its own home too: the login item (autostart) is written under ~/.config/autostart.
    env: { ...process.env, XDG_CONFIG_HOME: configHome, HOME: configHome },
  });
  const driver = new WebDriver(`http://127.0.0.1:${port}`);
  const out = env('GUI_OUT');
  const results = [];
  await waitForPort(port, 20_000);
  return {
    driver,
    appConfig,
    async shot(name) {
      writeFileSync(join(out, `${name}.png`), await driver.screenshot());
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
      console.log(`gui: ${results.length - failed} passed, ${failed} failed`);
      console.log(`screenshots: ${out}`);
      process.exit(failed === 0 && results.length > 0 ? 0 : 1);
    },
  };
}
