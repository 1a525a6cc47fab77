// The installed package: the `outpost` that `apt-get install ./outpost_….deb` put into a fresh
// Debian root starts in a real window there, and About reports the relay it carries. Run by
// tests/package/deb.sh, which has made the root and runs tauri-driver inside it.
//
// Environment: DRIVER_COMMAND (JSON array: how to run tauri-driver in the root), GUI_OUT,
// EXPECTED_APP_VERSION, EXPECTED_RELAY_VERSION, EXPECTED_RELAY_SHA256.

import assert from 'node:assert/strict';
import { env, open } from './harness.mjs';

const { driver, shot, accessibility, test, crashed, finish } = await open({
  port: 4455,
  driverCommand: JSON.parse(env('DRIVER_COMMAND')),
});

try {
  await test('the installed outpost opens its window on Welcome', async () => {
    await driver.start('/usr/bin/outpost');
    await driver.waitForText('[data-testid=step-title]', 'Welcome', { timeoutMs: 30_000 });
    await shot('90-installed-welcome');
    await accessibility('Welcome (installed)');
  });

  await test('About in the installed app reports the carried relay’s version and SHA-256, and it is intact', async () => {
    await driver.click('[data-testid=about-open]');
    assert.equal(await driver.text('[data-testid=about-app-version]'), env('EXPECTED_APP_VERSION'));
    assert.equal(await driver.text('[data-testid=about-relay-version]'), env('EXPECTED_RELAY_VERSION'));
    assert.equal(await driver.text('[data-testid=about-relay-sha256]'), env('EXPECTED_RELAY_SHA256'));
    await driver.click('[data-testid=about-verify]');
    await driver.waitFor('[data-testid=about-verified]', { timeoutMs: 30_000 });
    await shot('91-installed-about');
  });
} catch (error) {
  crashed(error);
} finally {
  await finish();
}
