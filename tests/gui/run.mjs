// The app in a real window: starts tauri-driver, drives the built app over WebDriver, and checks
// what a person would see. Run by `./dev test` under Xvfb and a private D-Bus session.
//
// Environment: APP_BIN, TAURI_DRIVER, GUI_OUT (screenshots), EXPECTED_APP_VERSION,
// EXPECTED_RELAY_VERSION, EXPECTED_RELAY_SHA256.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import net from 'node:net';
import { WebDriver, sleep } from './webdriver.mjs';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (run this through ./dev test)`);
  return value;
};

const appBin = env('APP_BIN');
const out = env('GUI_OUT');
// A private config directory: the test starts from a fresh profile and never touches the
// developer's own.
const configHome = mkdtempSync(join(tmpdir(), 'outpost-gui-'));
const profilePath = join(configHome, 'org.outpost.desktop', 'profile.json');

const results = [];
async function test(name, body) {
  const started = Date.now();
  try {
    await body();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}\n     ${error.stack ?? error}`);
  }
}

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

const driverProcess = spawn(env('TAURI_DRIVER'), ['--port', '4444'], {
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, XDG_CONFIG_HOME: configHome },
});
const driver = new WebDriver('http://127.0.0.1:4444');
const shot = async (name) => writeFileSync(join(out, `${name}.png`), await driver.screenshot());

try {
  await waitForPort(4444, 20_000);

  await test('the app opens on Welcome with the ten steps in the sidebar', async () => {
    await driver.start(appBin);
    await driver.waitForText('[data-testid=step-title]', 'Welcome');
    const heading = await driver.text('[data-testid=welcome-heading]');
    assert.match(heading, /your own server/);
    const steps = await driver.execute('return document.querySelectorAll("[data-testid^=stepper-]").length');
    assert.equal(steps, 10);
    const locked = await driver.execute('return document.querySelector("[data-testid=stepper-dns]").disabled');
    assert.equal(locked, true, 'steps not reached yet are locked');
    await shot('01-welcome');
  });

  await test('Next goes to "Choose a server", focuses its title, and saves the step', async () => {
    await driver.click('[data-testid=nav-next]');
    await driver.waitForText('[data-testid=step-title]', 'Choose a server');
    const focused = await driver.execute('return document.activeElement && document.activeElement.id');
    assert.equal(focused, 'step-title', 'keyboard focus lands on the new step');
    const profile = JSON.parse(readFileSync(profilePath, 'utf8'));
    assert.equal(profile.step, 'provider');
    assert.deepEqual(Object.keys(profile).sort(), ['format', 'provider', 'reached', 'step'], 'no secrets, no surprises');
  });

  await test('Choose a server compares the providers, filters, and writes the port-25 ticket', async () => {
    await driver.waitFor('[data-testid=provider-hetzner-cloud]');
    const count = () => driver.execute('return document.querySelectorAll("[data-testid=provider-list] > li[data-testid^=provider-]").length');
    assert.equal(await count(), 10);
    await driver.click('[data-testid=provider-filter-open]');
    const open = await count();
    assert.ok(open > 0 && open < 10, `the filter leaves only open providers (${open})`);
    await driver.click('[data-testid=provider-filter-open]');
    await driver.click('[data-testid=provider-hetzner-cloud] button');
    await driver.waitFor('[data-testid=provider-ticket]');
    const ticket = await driver.execute('const t = document.querySelector("[data-testid=provider-ticket]"); return t && t.value');
    assert.match(ticket ?? '', /Hello Hetzner Cloud support/);
    const profile = JSON.parse(readFileSync(profilePath, 'utf8'));
    assert.equal(profile.provider, 'hetzner-cloud', 'the choice is saved');
    await shot('02-choose-a-server');
  });

  await test('Back returns to Welcome, and the sidebar can go forward again', async () => {
    await driver.click('[data-testid=nav-back]');
    await driver.waitForText('[data-testid=step-title]', 'Welcome');
    await driver.click('[data-testid=stepper-provider]');
    await driver.waitForText('[data-testid=step-title]', 'Choose a server');
  });

  await test('the step survives a restart of the app', async () => {
    await driver.click('[data-testid=nav-next]');
    await driver.waitForText('[data-testid=step-title]', 'Connect');
    await driver.stop();
    await driver.start(appBin);
    await driver.waitForText('[data-testid=step-title]', 'Connect');
    await driver.click('[data-testid=stepper-welcome]');
    await driver.waitForText('[data-testid=step-title]', 'Welcome');
  });

  await test('About shows the app version and the carried relay, and its integrity check passes', async () => {
    await driver.click('[data-testid=about-open]');
    assert.equal(await driver.text('[data-testid=about-app-version]'), env('EXPECTED_APP_VERSION'));
    assert.equal(await driver.text('[data-testid=about-relay-version]'), env('EXPECTED_RELAY_VERSION'));
    assert.equal(await driver.text('[data-testid=about-relay-sha256]'), env('EXPECTED_RELAY_SHA256'));
    await driver.click('[data-testid=about-verify]');
    await driver.waitFor('[data-testid=about-verified]');
    await shot('03-about');
    await driver.click('[data-testid=about-close]');
    const open = await driver.execute('return document.querySelector("dialog").open');
    assert.equal(open, false);
  });

  await test('a damaged profile is set aside and the user is told', async () => {
    await driver.stop();
    writeFileSync(profilePath, '{ this is not json');
    await driver.start(appBin);
    const notice = await driver.text('[data-testid=notice]');
    assert.match(notice, /could not be read/);
    assert.ok(existsSync(`${profilePath.replace(/\.json$/, '')}.json.damaged`), 'the damaged file is kept');
    await driver.waitForText('[data-testid=step-title]', 'Welcome');
    await shot('04-damaged-profile');
  });
} finally {
  await driver.stop().catch(() => {});
  driverProcess.kill('SIGTERM');
  rmSync(configHome, { recursive: true, force: true });
}

const failed = results.filter((result) => !result.ok).length;
console.log(`gui: ${results.length - failed} passed, ${failed} failed`);
console.log(`screenshots: ${out}`);
process.exit(failed === 0 ? 0 : 1);
