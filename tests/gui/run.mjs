// The app in a real window: starts tauri-driver, drives the built app over WebDriver, and checks
// what a person would see. Run by `./dev test` under Xvfb and a private D-Bus session.
//
// Environment: APP_BIN, TAURI_DRIVER, GUI_OUT (screenshots), EXPECTED_APP_VERSION,
// EXPECTED_RELAY_VERSION, EXPECTED_RELAY_SHA256.

import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { env, open } from './harness.mjs';

const appBin = env('APP_BIN');
const { driver, appConfig, shot, accessibility, keyboard, overflowing, test, crashed, finish } = await open();
const profilePath = join(appConfig, 'profile.json');

/** The tray icon's menu as a desktop reads it: libayatana-appindicator publishes the icon as a
 * StatusNotifierItem on the session bus, and its menu as com.canonical.dbusmenu at
 * /org/ayatana/NotificationItem/<id>/Menu; busctl (systemd's) lists the objects and asks for
 * the layout, `(revision, (id, properties, children))`, in JSON. The labels of each menu found. */
function trayMenus() {
  const busctl = (...args) => execFileSync('busctl', ['--user', ...args], { encoding: 'utf8', timeout: 5_000 });
  const peers = JSON.parse(busctl('--json=short', 'list')).filter((peer) => peer.name.startsWith(':') && peer.process === 'outpost');
  const menus = [];
  for (const { name } of peers) {
    let objects;
    try {
      objects = busctl('tree', '--list', name).split('\n');
    } catch {
      continue; // A connection of the app's that serves no objects (GTK's, WebKit's).
    }
    const paths = objects.filter((path) => /^\/org\/ayatana\/NotificationItem\/[^/]+\/Menu$/.test(path));
    for (const path of paths) {
      const layout = JSON.parse(busctl('--json=short', 'call', name, path, 'com.canonical.dbusmenu', 'GetLayout', 'iias', '--', '0', '-1', '1', 'label'));
      const [, [, , children]] = layout.data;
      menus.push(children.map((child) => child.data[1].label?.data ?? null));
    }
  }
  return menus;
}

async function trayMenuSays(expected) {
  let seen = null;
  for (let tries = 0; tries < 50; tries += 1) {
    seen = trayMenus();
    if (seen.some((labels) => JSON.stringify(labels) === JSON.stringify(expected))) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  assert.fail(`the tray menu says ${JSON.stringify(seen)}, not ${JSON.stringify(expected)}`);
}

try {

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
    await accessibility('Welcome');
  });

  await test('Next goes to "Choose a server", focuses its title, and saves the step', async () => {
    await driver.click('[data-testid=nav-next]');
    await driver.waitForText('[data-testid=step-title]', 'Choose a server');
    const focused = await driver.execute('return document.activeElement && document.activeElement.id');
    assert.equal(focused, 'step-title', 'keyboard focus lands on the new step');
    const profile = JSON.parse(readFileSync(profilePath, 'utf8'));
    assert.equal(profile.step, 'provider');
    assert.deepEqual(
      Object.keys(profile).sort(),
      ['domain', 'format', 'installed', 'provider', 'reached', 'server', 'step'],
      'no secrets, no surprises',
    );
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
    await accessibility('Choose a server');
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

  await test('without a keychain, Connect says so before anything is typed, and how to get one', async () => {
    await driver.stop();
    await driver.start(new URL('./no-keychain.sh', import.meta.url).pathname);
    await driver.waitForText('[data-testid=step-title]', 'Welcome');
    await driver.click('[data-testid=stepper-connect]');
    await driver.waitForText('[data-testid=step-title]', 'Connect');
    await driver.waitFor('[data-testid=connect-keychain][data-state=missing]', { timeoutMs: 30_000 });
    const text = await driver.text('[data-testid=connect-keychain]');
    assert.match(text, /no keychain/);
    assert.match(text, /GNOME Keyring .*gnome-keyring.*KWallet/s);
    assert.equal(await driver.execute('return document.querySelector("[data-testid=connect-start]").disabled'), true, 'nothing to connect with yet');
    await shot('03a-connect-no-keychain');
    await accessibility('Connect without a keychain');
    await driver.stop();
    await driver.start(appBin);
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
    await accessibility('About');
    await driver.click('[data-testid=about-close]');
    const open = await driver.execute('return document.querySelector("dialog").open');
    assert.equal(open, false);
  });

  await test('the window may open https pages in the browser and nothing else', async () => {
    // What the capability grants, asked of the real plugin from inside the window.
    await driver.execute(`
      window.__opener = {};
      const note = (name) => [() => (window.__opener[name] = 'opened'), (error) => (window.__opener[name] = 'refused: ' + error)];
      const invoke = window.__TAURI_INTERNALS__.invoke;
      for (const url of ['mailto:someone@example.com', 'tel:+15555550100', 'file:///etc/passwd']) {
        invoke('plugin:opener|open_url', { url }).then(...note(url));
      }
      invoke('plugin:opener|reveal_item_in_dir', { paths: ['/etc'], path: '/etc' }).then(...note('reveal'));
      invoke('plugin:opener|open_path', { path: '/etc/passwd' }).then(...note('path'));
    `);
    let results = {};
    for (let tries = 0; tries < 50 && Object.keys(results).length < 5; tries += 1) {
      results = await driver.execute('return window.__opener');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(Object.keys(results).length, 5, JSON.stringify(results));
    for (const [what, result] of Object.entries(results)) {
      assert.match(result, /^refused: .*not allowed/i, `${what}: ${result}`);
    }
  });

  await test('the keyboard reaches every control on Welcome, Choose a server and Connect, each with a visible focus, and Enter operates it', async () => {
    for (const [step, title, ready] of [['provider', 'Choose a server', '[data-testid=provider-hetzner-cloud]'], ['connect', 'Connect', '[data-testid=connect-start]']]) {
      await driver.click(`[data-testid=stepper-${step}]`);
      await driver.waitForText('[data-testid=step-title]', title);
      await driver.waitFor(ready);
      await keyboard(title);
    }
    await driver.click('[data-testid=stepper-welcome]');
    await driver.waitForText('[data-testid=step-title]', 'Welcome');
    await keyboard('Welcome');
    await shot('04a-keyboard-focus');
    // Enter on the focused primary button moves on, as a click would.
    await driver.execute('document.querySelector("[data-testid=nav-next]").focus()');
    await driver.press('\uE007');
    await driver.waitForText('[data-testid=step-title]', 'Choose a server');
    await driver.click('[data-testid=stepper-welcome]');
    await driver.waitForText('[data-testid=step-title]', 'Welcome');
  });

  await test('the system’s language is followed; a language picked in the header is kept across a restart', async () => {
    await driver.stop();
    await driver.start(new URL('./system-language.sh', import.meta.url).pathname);
    await driver.waitForText('[data-testid=step-title]', 'Добро пожаловать');
    assert.equal(await driver.execute('return document.documentElement.lang'), 'ru-RU');
    assert.equal(JSON.parse(readFileSync(profilePath, 'utf8')).language, undefined, 'following the system is not a choice saved');
    await shot('05-ru-welcome');
    const pick = (where, code) =>
      driver.execute(`const select = document.querySelector('[data-testid=${where}]');
        select.value = '${code}'; select.dispatchEvent(new Event('change', { bubbles: true }));`);
    await pick('menu-language', 'kk');
    await driver.waitForText('[data-testid=step-title]', 'Қош келдіңіз');
    for (let tries = 0; tries < 50 && JSON.parse(readFileSync(profilePath, 'utf8')).language !== 'kk'; tries += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(JSON.parse(readFileSync(profilePath, 'utf8')).language, 'kk', 'the choice is saved');
    await driver.stop();
    await driver.start(appBin);
    await driver.waitForText('[data-testid=step-title]', 'Қош келдіңіз');
    assert.equal(await driver.text('[data-testid=nav-next]'), 'Бастайық');
  });

  // The last column: words of Hetzner's entry in the provider catalogue (crates/setup/data/
  // providers.toml), which gives each provider's instructions in every language too.
  for (const [code, welcome, provider, connect, hetzner] of [
    ['kk', 'Қош келдіңіз', 'Сервер таңдау', 'Қосылу', 'Cloud серверлерінде шығыс 25 және 465 порттары бұғатталған'],
    ['zh', '欢迎', '选择服务器', '连接', 'Cloud 服务器的出站 25 和 465 端口被封锁'],
  ]) {
    await test(`in ${code}: Welcome, Choose a server, Connect and About fit their boxes and pass axe`, async () => {
      await driver.waitFor('[data-testid=welcome-language]');
      await driver.execute(`const select = document.querySelector('[data-testid=welcome-language]');
        select.value = '${code}'; select.dispatchEvent(new Event('change', { bubbles: true }));`);
      await driver.waitForText('[data-testid=step-title]', welcome);
      const screens = [
        ['welcome', welcome, null],
        ['provider', provider, '[data-testid=provider-hetzner-cloud]'],
        ['connect', connect, '[data-testid=connect-start]'],
      ];
      for (const [step, title, ready] of screens) {
        await driver.click(`[data-testid=stepper-${step}]`);
        await driver.waitForText('[data-testid=step-title]', title);
        if (ready) await driver.waitFor(ready);
        if (step === 'provider') assert.match(await driver.text('[data-testid=provider-hetzner-cloud]'), new RegExp(hetzner));
        assert.deepEqual(await overflowing(), [], `${code} ${step}: nothing cut off`);
        await shot(`06-${code}-${step}`);
        await accessibility(`${step} (${code})`);
      }
      await driver.click('[data-testid=about-open]');
      await driver.waitFor('[data-testid=about-relay-sha256]');
      assert.deepEqual(await overflowing(), [], `${code} About: nothing cut off`);
      await shot(`06-${code}-about`);
      await driver.click('[data-testid=about-close]');
      await driver.click('[data-testid=stepper-welcome]');
    });
  }

  await test('back to English from the Welcome picker', async () => {
    await driver.waitFor('[data-testid=welcome-language]');
    await driver.execute(`const select = document.querySelector('[data-testid=welcome-language]');
      select.value = 'en'; select.dispatchEvent(new Event('change', { bubbles: true }));`);
    await driver.waitForText('[data-testid=step-title]', 'Welcome');
  });

  await test('started at login (--tray) the window waits behind a tray icon, whose menu speaks the chosen language', async () => {
    await driver.stop();
    // Kazakh was picked before: the menu is in Kazakh from the start.
    writeFileSync(profilePath, JSON.stringify({ ...JSON.parse(readFileSync(profilePath, 'utf8')), language: 'kk' }));
    try {
      await driver.start(new URL('./tray.sh', import.meta.url).pathname);
      await driver.waitForText('[data-testid=step-title]', 'Қош келдіңіз');
      assert.equal(await driver.execute('return document.visibilityState'), 'hidden', 'the window is not shown');
      await trayMenuSays(['Outpost ашу', 'Шығу']);
      await driver.execute(`const select = document.querySelector('[data-testid=menu-language]');
        select.value = 'ru'; select.dispatchEvent(new Event('change', { bubbles: true }));`);
      await trayMenuSays(['Открыть Outpost', 'Выйти']);
      await driver.execute(`const select = document.querySelector('[data-testid=menu-language]');
        select.value = 'en'; select.dispatchEvent(new Event('change', { bubbles: true }));`);
      await trayMenuSays(['Open Outpost', 'Quit']);
    } finally {
      await driver.stop();
      writeFileSync(profilePath, JSON.stringify({ ...JSON.parse(readFileSync(profilePath, 'utf8')), language: 'en' }));
      await driver.start(appBin);
    }
  });

  await test('on a dark desktop the dark colours are used, and Welcome, Choose a server, Connect and About pass axe’s contrast checks', async () => {
    await driver.stop();
    await driver.start(new URL('./dark.sh', import.meta.url).pathname);
    await driver.waitForText('[data-testid=step-title]', 'Welcome');
    assert.equal(await driver.execute('return matchMedia("(prefers-color-scheme: dark)").matches'), true);
    await shot('07-dark-welcome');
    await accessibility('Welcome (dark)');
    for (const [step, title, ready] of [['provider', 'Choose a server', '[data-testid=provider-hetzner-cloud]'], ['connect', 'Connect', '[data-testid=connect-start]']]) {
      await driver.click(`[data-testid=stepper-${step}]`);
      await driver.waitForText('[data-testid=step-title]', title);
      await driver.waitFor(ready);
      await shot(`07-dark-${step}`);
      await accessibility(`${title} (dark)`);
    }
    await driver.click('[data-testid=about-open]');
    await driver.waitFor('[data-testid=about-relay-sha256]');
    await accessibility('About (dark)');
    await driver.click('[data-testid=about-close]');
    await driver.click('[data-testid=stepper-welcome]');
    await driver.stop();
    await driver.start(appBin);
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
} catch (error) {
  crashed(error);
} finally {
  await finish();
}
