// The installed package: the `outpost` that `apt-get install ./outpost_….deb` put into a fresh
// Debian root starts in a real window there, and About reports the relay it carries. Run by
// tests/package/deb.sh, which has made the root and runs tauri-driver inside it.
//
// Environment: DRIVER_COMMAND (JSON array: how to run tauri-driver in the root), GUI_OUT,
// EXPECTED_APP_VERSION, EXPECTED_RELAY_VERSION, EXPECTED_RELAY_SHA256; for the updater:
// CLEAN_ROOT (the root's path), FEED_DIR (what the local feed serves: new.json, tampered.json,
// and latest.json, which the app asks for), NEW_VERSION (the version the feed offers).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { env, open } from './harness.mjs';

/** The version of the package dpkg has installed in the clean root. */
const installed = () =>
  execFileSync('chroot', [env('CLEAN_ROOT'), 'dpkg-query', '-W', '-f', '${Version}', 'outpost'], { encoding: 'utf8' });

/** Serves `which` (new or tampered) as the feed, and starts the app again so it asks. */
async function offer(which) {
  copyFileSync(join(env('FEED_DIR'), `${which}.json`), join(env('FEED_DIR'), 'latest.json'));
  await driver.stop();
  await driver.start('/usr/bin/outpost');
  const offered = await driver.waitFor('[data-testid=update][data-phase=offered]', { timeoutMs: 30_000 }).catch(async (error) => {
    // Say what the app's own check answers, for the failure's message.
    const said = await driver.execute(`return window.__TAURI_INTERNALS__.invoke('check_update').then((offer) => JSON.stringify(offer), (failure) => 'failed: ' + JSON.stringify(failure))`);
    throw new Error(`${error.message}; check_update: ${said}`);
  });
  assert.ok(offered);
  assert.equal(await driver.text('#update-title'), `Outpost ${env('NEW_VERSION')} is available`);
}

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
    await driver.click('[data-testid=about-close]');
  });

  await test('a newer version whose package was tampered with is offered, then refused: nothing is installed', async () => {
    await offer('tampered');
    await driver.click('[data-testid=update-notes] summary');
    assert.match(await driver.text('[data-testid=update-notes]'), /Signed updates/);
    await shot('92-update-offered');
    await driver.click('[data-testid=update-install]');
    await driver.waitFor('[data-testid=update-error]', { timeoutMs: 60_000 });
    const problem = await driver.execute('return document.querySelector("[data-testid=update-error]").dataset.problem');
    assert.equal(problem, 'signature', await driver.text('[data-testid=update-error]'));
    assert.match(await driver.text('[data-testid=update-error]'), /does not carry Outpost’s signature.*nothing was installed/s);
    assert.equal(installed(), env('EXPECTED_APP_VERSION'), 'dpkg still has the installed version');
    await shot('93-update-tampered-refused');
    await accessibility('update refused');
  });

  await test('the correctly signed package is verified and installed: dpkg has the new version', async () => {
    await offer('new');
    await driver.click('[data-testid=update-install]');
    await driver.waitFor('[data-testid=update][data-phase=installed]', { timeoutMs: 120_000 });
    assert.equal(await driver.text('#update-title'), `Outpost ${env('NEW_VERSION')} is installed`);
    assert.equal(installed(), env('NEW_VERSION'));
    await shot('94-update-installed');
  });
} catch (error) {
  crashed(error);
} finally {
  await finish();
}
