import { describe, expect, it } from 'vitest';
import { catalogues, currentLanguage, format, LANGUAGES, placeholders, setLanguage, t } from './i18n/index.svelte';
import { en, type MessageKey } from './i18n/en';
import { STEPS } from './steps';
import { errorCodes } from './ipc';
import type * as ipc from './ipc';
import { blockerText, checkText, deliveryText, errorText, healthText, fieldsText, findingText, installDetail, mailboxText, port25Reason, problemText, recordLabel, recordPurpose, resultText, verdictText } from './i18n/words';

describe('the message catalogue', () => {
  it('titles and summarises every step', () => {
    for (const step of STEPS) {
      expect(en[`step.${step}.title` as MessageKey]).toBeTruthy();
      expect(en[`step.${step}.summary` as MessageKey]).toBeTruthy();
    }
  });

  it('titles every error code', () => {
    for (const code of errorCodes) expect(en[`error.title.${code}` as MessageKey], code).toBeTruthy();
  });

  it('has no empty messages and every other language only known keys', () => {
    for (const [key, text] of Object.entries(en)) expect(text.trim(), key).not.toBe('');
    for (const { messages } of Object.values(catalogues)) {
      for (const key of Object.keys(messages)) expect(key in en, key).toBe(true);
    }
  });

  it('fills placeholders and leaves unknown ones visible', () => {
    expect(t('nav.stepOf', { number: 2, total: 10 })).toBe('Step 2 of 10');
    expect(t('nav.stepOf', { number: 2 })).toBe('Step 2 of {total}');
  });

  it('keeps the current language when asked for one it does not have', () => {
    setLanguage('xx');
    expect(currentLanguage()).toBe('en');
  });
});

describe('every language', () => {
  const languages = LANGUAGES.filter((code) => code !== 'en');

  it('has every English key and no other', () => {
    for (const code of languages) {
      const keys = Object.keys(catalogues[code].messages);
      const missing = Object.keys(en).filter((key) => !keys.includes(key));
      const unknown = keys.filter((key) => !(key in en));
      expect({ code, missing, unknown }).toEqual({ code, missing: [], unknown: [] });
    }
  });

  it('uses exactly the placeholders English uses', () => {
    for (const code of languages) {
      const differ: string[] = [];
      for (const [key, english] of Object.entries(en)) {
        const theirs = catalogues[code].messages[key as MessageKey];
        const a = [...placeholders(english).names].sort().join(',');
        const b = [...placeholders(theirs).names].sort().join(',');
        if (a !== b) differ.push(`${key}: {${a}} ≠ {${b}}`);
      }
      expect({ code, differ }).toEqual({ code, differ: [] });
    }
  });

  it('gives every plural the forms its language has, and is not left in English', () => {
    for (const code of LANGUAGES) {
      const categories = new Intl.PluralRules(catalogues[code].locale).resolvedOptions().pluralCategories;
      const wrong: string[] = [];
      for (const [key, text] of Object.entries(catalogues[code].messages)) {
        for (const [name, forms] of placeholders(text).plurals) {
          const lacking = categories.filter((category) => !forms.includes(category));
          if (lacking.length) wrong.push(`${key} {${name}}: no ${lacking.join(', ')}`);
        }
      }
      expect({ code, wrong }).toEqual({ code, wrong: [] });
    }
    // Words that stay the same in every language (names, codes, placeholders only) aside, a
    // message identical to English's was forgotten.
    const same = (code: (typeof LANGUAGES)[number]) =>
      Object.entries(en)
        .filter(([key, english]) => catalogues[code].messages[key as MessageKey] === english && /[a-z]{4,} [a-z]{3,}/.test(english))
        .map(([key]) => key);
    for (const code of languages) expect({ code, same: same(code) }).toEqual({ code, same: [] });
  });
});

describe('plurals and numbers', () => {
  const files = '{count, plural, one {# file} other {# files}} in {path}';

  it('picks each language’s own form', () => {
    expect(format(files, { count: 1, path: '/tmp' }, 'en')).toBe('1 file in /tmp');
    expect(format(files, { count: 3, path: '/tmp' }, 'en')).toBe('3 files in /tmp');
    const russian = '{count, plural, one {# файл} few {# файла} many {# файлов} other {# файла}}';
    expect(format(russian, { count: 1 }, 'ru-RU')).toBe('1 файл');
    expect(format(russian, { count: 3 }, 'ru-RU')).toBe('3 файла');
    expect(format(russian, { count: 5 }, 'ru-RU')).toBe('5 файлов');
    expect(format(russian, { count: 21 }, 'ru-RU')).toBe('21 файл');
    expect(format('{n, plural, =0 {none} other {#}}', { n: 0 }, 'en')).toBe('none');
  });

  it('writes numbers the language’s way, leaving four-digit ones ungrouped', () => {
    expect(format('{v} MB', { v: 12.5 }, 'ru-RU')).toBe('12,5 MB');
    expect(format('{v} MB', { v: 12.5 }, 'en')).toBe('12.5 MB');
    expect(format('{v}', { v: 2222 }, 'ru-RU')).toBe('2222');
    expect(format('{v}', { v: 25000 }, 'en')).toBe('25,000');
    expect(format('{v}', { v: 25000 }, 'ru-RU')).toBe('25\u00a0000');
  });

  it('leaves a placeholder without a value visible', () => {
    expect(format(files, { path: '/tmp' }, 'en')).toBe('{count} in /tmp');
  });

  it('fills every message in every language without a placeholder left', () => {
    for (const code of LANGUAGES) {
      setLanguage(code);
      for (const [key, english] of Object.entries(en)) {
        const params = Object.fromEntries([...placeholders(english).names].map((name) => [name, 2]));
        const text = t(key as MessageKey, params);
        expect(text, `${code} ${key}`).not.toMatch(/\{\w+(,[^}]*)?\}/);
      }
    }
    setLanguage('en');
  });
});

/** No sentence may come out with a placeholder left unfilled or a key instead of words. */
function expectWords(text: string): void {
  expect(text).not.toMatch(/\{\w+\}/);
  expect(text).not.toMatch(/^[a-z]+(\.[a-zA-Z-]+)+$/);
  expect(text.trim()).not.toBe('');
}

describe('the words for the engine’s data', () => {
  it('says every error with the values it carries', () => {
    const errors: ipc.IpcError[] = [
      { code: 'unreachable', host: '198.51.100.99', port: 22, reason: { kind: 'noRoute' } },
      { code: 'hostKeyChanged', expected: 'SHA256:a', found: 'SHA256:b' },
      { code: 'loginRefused', user: 'root' },
      { code: 'notReady', missing: { kind: 'login', login: 'root@198.51.100.10' } },
      { code: 'installFailed', stage: 'binary', reason: { kind: 'diskFull', detail: 'No space left on device' } },
      { code: 'relayOutdated', relay: 0, needed: 1 },
      { code: 'backupUnusable', problem: 'wrongKey', detail: 'x' },
      { code: 'backupUnusable', problem: 'notABackup', detail: 'x' },
      { code: 'backupUnusable', problem: 'file', detail: 'x' },
      { code: 'backupForAnotherDomain', domain: 'example.org' },
      { code: 'notReady', missing: { kind: 'oldDkimKeyInUse', until: 1_800_000_000 } },
      { code: 'notReady', missing: { kind: 'dkimRotation' } },
      { code: 'submissionUnverified', reason: 'closed', detail: 'timed out' },
      { code: 'cancelled' },
      { code: 'certificateTimeout', seconds: 180 },
      { code: 'certificateBlocked', blockers: [{ kind: 'portClosed', port: 80 }] },
      { code: 'settings', detail: 'cannot read x' },
      { code: 'submissionUnverified', reason: 'untrusted', detail: 'UnknownIssuer' },
    ];
    const kinds: ipc.AcmeFailureKind[] = ['ca-unreachable', 'challenge-failed', 'caa', 'dns', 'rate-limited', 'refused', 'timeout', 'other'];
    for (const kind of kinds) errors.push({ code: 'certificateRefused', kind, detail: 'd', mailHost: 'mail.example.com' });
    for (const error of errors) {
      const text = errorText(error);
      for (const part of [text.title, text.message, text.hint]) expectWords(part);
    }
    expect(errorText(errors[0]!).message).toMatch(/cannot reach 198\.51\.100\.99 on port 22 \(no route to that address/);
    expect(errorText(errors[4]!).message).toMatch(/“Upload the relay and check it arrived intact”: the server’s disk is full/);
  });

  it('says what stops a certificate and how to fix it, with the provider’s own firewall steps', () => {
    const blockers: ipc.Blocker[] = [
      { kind: 'notPointing', name: 'mail.example.com', record: 'A', found: [], expected: ['198.51.100.10'] },
      { kind: 'portTaken', port: 80, program: 'nginx' },
      { kind: 'portTaken', port: 443, program: null },
      { kind: 'portClosed', port: 443 },
      { kind: 'caaForbids', name: 'example.com', found: ['0 issue "sectigo.com"'], ca: 'letsencrypt.org' },
    ];
    for (const blocker of blockers) {
      for (const part of Object.values(blockerText(blocker, null))) expectWords(part);
    }
    expect(blockerText(blockers[0]!, null).found).toMatch(/mail\.example\.com has no A record pointing at your server yet \(found: nothing; expected: 198\.51\.100\.10\)/);
    expect(blockerText(blockers[1]!, null).found).toMatch(/\(nginx\) already uses port 80/);
    const firewall = { en: 'Cloud Console → Firewalls.', kk: 'Cloud Console → Firewalls (kk).', ru: 'Cloud Console → Firewalls (ru).', zh: 'Cloud Console → Firewalls（zh）。' };
    expect(blockerText(blockers[3]!, firewall).fix).toMatch(/open TCP 80 and 443\. Cloud Console → Firewalls\./);
    // The provider's own steps follow the language, like every other word.
    setLanguage('ru');
    try {
      expect(blockerText(blockers[3]!, firewall).fix).toBe('Вероятно, закрыт брандмауэр провайдера: откройте TCP 80 и 443. Cloud Console → Firewalls (ru).');
    } finally {
      setLanguage('en');
    }
    expect(blockerText(blockers[4]!, null).fix).toMatch(/0 issue "letsencrypt\.org"/);
  });

  it('words a field’s problem for that field when it has its own words', () => {
    expect(problemText('host', { kind: 'empty' })).toMatch(/server’s address/);
    expect(problemText('domain', { kind: 'empty' })).toMatch(/Type your domain/);
    expect(problemText('sends', { kind: 'outsideDomains', domains: ['example.com', 'example.org'] })).toBe('This must be an address at one of your domains: example.com, example.org.');
    expect(problemText('domain', { kind: 'duplicate' })).toBe('This domain is on your server already.');
    expect(problemText('sender', { kind: 'outsideDomain', domain: 'example.test' })).toMatch(/must end in @example\.test/);
    expect(problemText('domain', { kind: 'noEnding', suggestion: 'example.com' })).toMatch(/for example example\.com/);
  });

  it('says when reverse DNS names something else than the chosen mail host', () => {
    const names = [{ ip: '198.51.100.10', name: 'vps.inbox.test' }];
    const chosen = checkText({ verdict: 'warn', found: { id: 'rdns', names, mailHost: 'mail.example.test' } });
    expect(chosen.found).toBe('198.51.100.10 is vps.inbox.test — not your mail host mail.example.test');
    expect(chosen.fix).toMatch(/set the reverse DNS of each address to mail\.example\.test/);
    const early = checkText({ verdict: 'warn', found: { id: 'rdns', names, mailHost: null } });
    expect(early.found).toMatch(/compared with your mail host once you choose it/);
    for (const part of [chosen.found, chosen.fix, early.found, early.fix]) expectWords(part);
  });

  it('says what each check found and what to do', () => {
    const ports: ipc.Check = {
      verdict: 'fail',
      found: { id: 'ports', busy: [{ port: 25, program: 'master', mailServer: 'postfix' }] },
    };
    expect(checkText(ports)).toMatchObject({ found: 'port 25 is used by Postfix' });
    expect(checkText(ports).fix).toMatch(/stop and disable it/);
    const clock: ipc.Check = { verdict: 'warn', found: { id: 'clock', synchronised: false } };
    expect(checkText(clock).fix).not.toMatch(/install/);
  });

  it('says every dashboard item, its fix and where the fix is, only when it is not well', () => {
    const entry: ipc.BlocklistEntry = {
      list: { name: 'Spamhaus ZEN', zone: 'zen.spamhaus.org', keyed: 'ip', removal: 'https://check.spamhaus.org/' },
      subject: '198.51.100.10',
      listing: { state: 'listed', codes: ['127.0.0.2'] },
    };
    const found: ipc.HealthFinding[] = [
      { id: 'relay', running: true, since: 1_800_000_000 },
      { id: 'relay', running: false, since: 1_800_000_000 },
      { id: 'relay', running: false, since: null },
      { id: 'ports', open: [587], closed: [25, 465] },
      { id: 'ports', open: [], closed: [25] },
      { id: 'certificate', issuer: 'R11', selfSigned: false, expires: 1_800_000_000, nextRenewal: 1_790_000_000, failure: 'rate-limited' },
      { id: 'certificate', issuer: 'mail.example.com', selfSigned: true, expires: 1_900_000_000, nextRenewal: null, failure: null },
      { id: 'noCertificate' },
      { id: 'queue', waiting: 0, stuck: 0, oldest: null, nextRetry: null },
      { id: 'queue', waiting: 3, stuck: 1, oldest: 1_799_990_000, nextRetry: 1_800_000_600 },
      { id: 'queue', waiting: 3, stuck: 0, oldest: 1_799_990_000, nextRetry: 1_800_000_600 },
      { id: 'deliveries', counts: { since: 1_799_913_600, delivered: 12, bounced: 1 } },
      { id: 'inbound', since: 1_799_913_600, forwarded: 4, refused: [{ reason: 'unknown-recipient', count: 2 }, { reason: 'dmarc-reject', count: 1 }] },
      { id: 'dns', right: 6, total: 7, spreading: 0, firstWrong: true, furtherWrong: [] },
      { id: 'dns', right: 7, total: 7, spreading: 2, firstWrong: false, furtherWrong: [] },
      { id: 'dnsUnchecked', detail: 'timed out' },
      { id: 'blocklists', listed: [entry], unchecked: 1, asked: 6 },
      { id: 'blocklists', listed: [], unchecked: 1, asked: 6 },
      { id: 'outbound25', target: 'mx.example.net:25', reachable: false, detail: 'timed out' },
      { id: 'version', running: '0.1.0', carried: '0.2.0', standing: 'older' },
      { id: 'version', running: '0.3.0', carried: '0.2.0', standing: 'newer' },
      { id: 'version', running: null, carried: '0.2.0', standing: 'older' },
      { id: 'disk', freeMb: 150, totalMb: 10_000 },
      { id: 'memory', availableMb: null, totalMb: null },
    ];
    for (const finding of found) {
      const bad = healthText({ verdict: 'fail', found: finding });
      for (const part of [bad.title, bad.found]) expectWords(part);
      if (bad.fix) expectWords(bad.fix);
      const good = healthText({ verdict: 'pass', found: finding });
      expect(good.fix, finding.id).toBe('');
      expect(good.action, finding.id).toBeNull();
    }
    const at = (index: number) => found[index] as ipc.HealthFinding;
    const stopped = healthText({ verdict: 'fail', found: at(1) });
    expect(stopped.action).toEqual({ kind: 'step', step: 'install', label: 'dashboard.go.install' });
    expect(healthText({ verdict: 'fail', found: at(3) }).found).toBe('ports 25, 465 do not answer from this computer (these do: 587)');
    expect(healthText({ verdict: 'warn', found: at(9) }).action).toMatchObject({ kind: 'section', section: 'queue' });
    expect(healthText({ verdict: 'pass', found: at(12) }).found).toMatch(/4 forwarded since .*; refused: no such address 2×, failed its domain’s DMARC 1×/);
    expect(healthText({ verdict: 'warn', found: at(19) }).action).toMatchObject({ step: 'install', label: 'dashboard.go.upgrade' });
    expect(healthText({ verdict: 'fail', found: at(13) }).action).toMatchObject({ kind: 'step', step: 'dns' });
    // A further domain's record is fixed in the dashboard's Domains section, and named.
    const further = healthText({ verdict: 'fail', found: { id: 'dns', right: 10, total: 11, spreading: 0, firstWrong: false, furtherWrong: ['example.org'] } });
    expect(further.found).toBe('10 of 11 records are right; example.org needs attention');
    expect(further.action).toMatchObject({ kind: 'section', section: 'domains' });
  });

  it('explains why a delivery bounced', () => {
    const delivery = (outcome: ipc.Outcome, problem: ipc.DeliveryProblem | null, refusal: ipc.Refusal | null): ipc.FinishedDelivery => ({
      id: 'a',
      recipient: 'you@example.net',
      refusal,
      record: { at: 1, outcome, host: null, ip: null, tlsVersion: null, tlsCipher: null, reply: '550 5.1.1 no', problem, mtaSts: false },
    });
    expect(deliveryText(delivery('delivered', null, null))).toBe('');
    expect(deliveryText(delivery('permanent', { kind: 'reply', code: 550, enhanced: '5.1.1' }, 'noSuchUser'))).toMatch(/does not exist/);
    for (const kind of ['unreachable', 'no-mail-server', 'policy', 'interrupted'] as const) {
      expectWords(deliveryText(delivery('temporary', { kind }, null)));
    }
    expectWords(deliveryText(delivery('temporary', { kind: 'deferred', until: 5 }, null)));
  });

  it('words every install detail', () => {
    const details: ipc.Detail[] = [
      { kind: 'binaryInstalled', version: '0.1.0', bytes: 8242656 },
      { kind: 'firewallOpened', manager: 'ufw', ports: [465, 587] },
      { kind: 'noFirewall', ports: [465, 587] },
      { kind: 'dkimMade', records: ['outpost._domainkey.example.test'] },
      { kind: 'running' },
    ];
    for (const detail of details) expectWords(installDetail(detail));
    expect(installDetail(details[1]!)).toBe('opened ports 465, 587 in ufw');
    expectWords(installDetail({ kind: 'aliasesSet', set: ['*@example.test'], removed: [] }));
    expectWords(installDetail({ kind: 'notReceiving' }));
  });

  it('says why port 25 could not be reached, in its own words', () => {
    const failures: ipc.NetworkFailure[] = [{ kind: 'refused' }, { kind: 'noRoute' }, { kind: 'timedOut' }, { kind: 'unknownName' }];
    for (const failure of failures) expectWords(port25Reason(failure));
    expect(port25Reason({ kind: 'refused' })).not.toMatch(/SSH/);
    expect(port25Reason({ kind: 'other', detail: 'network is down' })).toBe('network is down');
  });

  it('names an alias row’s problem by its place, and only that row', async () => {
    const { Task } = await import('./task.svelte');
    const task = new Task();
    await task.run(async () => {
      throw { code: 'invalidInput', field: 'aliasTo', problem: { kind: 'forwardsToItself', domain: 'example.test' }, item: 1 };
    });
    expect(task.fieldError('aliasTo', 1)).toMatch(/not to an address @example\.test/);
    expect(task.fieldError('aliasTo', 0)).toBeNull();
    expect(task.fieldError('aliasTo')).toBeNull();
    expect(task.panelError).toBeNull();
  });

  it('names the next record to fix in the DNS verdict', () => {
    const record = (purpose: ipc.RecordPurpose): ipc.DnsRecord => ({
      kind: 'TXT',
      name: 'x.example.test.',
      host: 'x',
      value: 'v',
      fields: [],
      ttl: 3600,
      purpose,
      need: 'required',
    });
    const report: ipc.DnsReport = {
      zone: 'example.test',
      lines: [
        { record: record('address'), status: { state: 'ok' }, found: [], propagation: null },
        { record: record('dkim'), status: { state: 'different', why: { kind: 'cutShort', length: 255 } }, found: [], propagation: null },
      ],
      warnings: [],
      spf: [],
      zoneFile: '',
      verdict: { right: 1, total: 2, spreading: 0, next: 1 },
    };
    expect(verdictText(report)).toBe(
      '1 of 2 records are right; next: the DKIM key — the value is cut short after 255 characters: paste it again whole, or as two quoted strings if your DNS panel needs that.',
    );
    expect(verdictText({ ...report, verdict: { right: 2, total: 2, spreading: 1, next: null } })).toMatch(/1 is still spreading/);
  });

  it('words every test-email finding, refusal, mailbox state and requirement', () => {
    const refusals: ipc.Refusal[] = ['unauthenticated', 'noReverseDns', 'blocked', 'rateOrReputation', 'tryLater', 'noSuchUser', 'mailboxFull', 'other'];
    const problems: ipc.DkimProblem[] = ['keyMissing', 'keyUnusable', 'keyCut', 'keyDifferent', 'bodyChanged', 'other'];
    const findings: ipc.Finding[] = [
      { kind: 'port25Blocked' },
      { kind: 'noMailServer' },
      { kind: 'policy' },
      { kind: 'dmarc' },
      { kind: 'reverseDns' },
      { kind: 'unencrypted' },
      { kind: 'spf', result: 'softfail' },
      { kind: 'spam', folder: 'Junk' },
      ...refusals.map((refusal): ipc.Finding => ({ kind: 'refused', reply: '550 5.7.26 no', refusal })),
      ...refusals.map((refusal): ipc.Finding => ({ kind: 'tryLater', reply: '451 later', retryAt: 1_800_000_000, refusal })),
      ...problems.map((problem): ipc.Finding => ({ kind: 'dkim', record: 'outpost._domainkey.example.test', problem })),
    ];
    for (const finding of findings) {
      const text = findingText(finding);
      expectWords(text.found);
      expectWords(text.fix);
    }
    expect(findingText({ kind: 'dkim', record: 'outpost._domainkey.example.test', problem: 'keyCut' }).found).toMatch(/cut it after 255/);
    expect(findingText({ kind: 'port25Blocked' }).step).toBe('provider');
    // A "try later" says when the server tries again, as its own sentence.
    const later = findingText({ kind: 'tryLater', reply: '421 4.7.0 slow down', retryAt: 1_800_000_000, refusal: 'rateOrReputation' }).fix;
    expect(later).toMatch(/reputation\. Your server tries again by itself at \S/);
    for (const finding of findings) expect(findingText(finding).fix).not.toMatch(/[{}]|\w\d{1,2}:\d\d/);
    const mailboxes: ipc.Mailbox[] = [
      { state: 'notAsked' },
      { state: 'notDelivered' },
      { state: 'noPassword', login: 'bob@imap.gmail.com' },
      { state: 'found', folder: 'INBOX', spam: false },
      { state: 'found', folder: '[Gmail]/Spam', spam: true },
      { state: 'notFound', waited: 30 },
      { state: 'loginRefused', detail: 'AUTHENTICATIONFAILED' },
      { state: 'unreachable', detail: 'timed out' },
    ];
    for (const mailbox of mailboxes) expectWords(mailboxText(mailbox));
    for (const result of ['pass', 'fail', 'softfail', 'neutral', 'none', 'temperror', 'permerror', 'other'] as ipc.AuthResult[]) {
      expectWords(resultText(result));
    }
    for (const requirement of ['reverseDns', 'tls', 'spf', 'dkim', 'dmarc', 'notListed', 'wellFormed'] as ipc.Requirement[]) {
      expectWords(t(`test.requirement.${requirement}` as MessageKey));
    }
    for (const failure of [{ kind: 'login' }, { kind: 'refused', code: 554 }, { kind: 'unreachable' }] as ipc.SubmitFailure[]) {
      const text = errorText({ code: 'testNotSubmitted', failure, detail: 'x' });
      expectWords(text.message);
      expectWords(text.hint);
    }
  });

  it('gives a record’s parts for panels with a field each', () => {
    const caa: ipc.DnsRecord = {
      kind: 'CAA',
      name: 'mail.example.test.',
      host: 'mail',
      value: '0 issue "letsencrypt.org; accounturi=https://ca.test/acct/1"',
      fields: ['0', 'issue', 'letsencrypt.org; accounturi=https://ca.test/acct/1'],
      ttl: 3600,
      purpose: 'caa',
      need: 'optional',
    };
    expect(fieldsText(caa)).toBe(
      'If your DNS panel has a field for each part: flags 0, tag issue, value letsencrypt.org; accounturi=https://ca.test/acct/1',
    );
    expect(fieldsText({ ...caa, kind: 'MX', fields: ['10', 'mail.example.test.'] })).toBe(
      'If your DNS panel has a field for each part: priority 10, mail server mail.example.test.',
    );
    expectWords(recordLabel(caa));
    expectWords(recordPurpose(caa));
  });
});
