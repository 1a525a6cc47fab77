// The words for the engine's typed data: errors, field problems, server checks, install steps,
// DNS records and verdicts. The Rust side sends codes and values, never sentences; every
// sentence a user reads is built here from the catalogue, so another language is a catalogue
// file and nothing else.

import { formatDate, formatTime, localized, t, type MessageKey, type Params } from './index.svelte';
import { en } from './en';
import type * as ipc from '../ipc';
import type { StepId } from '../steps';

/** `key` if the catalogue has it, else `fallback`. */
function either(key: string, fallback: MessageKey): MessageKey {
  return (hasKey(key) ? key : fallback) as MessageKey;
}

function hasKey(key: string): boolean {
  return key in en;
}

/** Values as one text: "a, b, c". */
export function list(values: readonly (string | number)[]): string {
  return values.join(', ');
}

/** An error as the user reads it: its title, what happened, what to do, and the outside
 * world's own words (a server's output, a library's error) when there are any. */
export interface ErrorText {
  title: string;
  message: string;
  hint: string;
  /** What a server, the operating system or a library said, as it said it. */
  detail: string | null;
}

export function errorText(error: ipc.IpcError): ErrorText {
  const title = t(`error.title.${error.code}` as MessageKey);
  const detail = 'detail' in error ? error.detail : null;
  const say = (key: string, params: Params = {}, hint: string = `${key}.hint`): ErrorText => ({
    title,
    message: t(key as MessageKey, params),
    hint: hasKey(hint) ? t(hint as MessageKey, params) : '',
    detail,
  });
  switch (error.code) {
    case 'profileUnavailable':
    case 'relayDamaged':
    case 'internal':
    case 'badKey':
    case 'ssh':
    case 'keychain':
    case 'keychainMissing':
      return say(`error.${error.code}`);
    case 'timeout':
      return say('error.timeout', { seconds: error.seconds });
    case 'invalidInput':
      return { title, message: problemText(error.field, error.problem), hint: '', detail: null };
    case 'notReady':
      return say(
        `error.notReady.${error.missing.kind}`,
        error.missing.kind === 'login'
          ? { login: error.missing.login }
          : error.missing.kind === 'oldDkimKeyInUse'
            ? { until: when(error.missing.until) }
            : {},
      );
    case 'unreachable':
      return say('error.unreachable', { host: error.host, port: String(error.port), reason: networkText(error.reason) });
    case 'hostKeyChanged':
      return say('error.hostKeyChanged', { expected: error.expected, found: error.found });
    case 'hostKeyNotShown':
      return say('error.hostKeyNotShown', { target: error.target });
    case 'loginRefused':
      return say('error.loginRefused', { user: error.user });
    case 'installFailed':
      return {
        ...say('error.installFailed', {
          stage: t(`install.stage.${error.stage}` as MessageKey),
          reason: t(`install.failure.${error.reason.kind}` as MessageKey),
        }),
        detail: 'detail' in error.reason ? error.reason.detail : null,
      };
    case 'rolledBack':
      return { ...say('error.rolledBack', { version: error.version }), detail: error.journal };
    case 'relayOutdated':
      return say('error.relayOutdated', { relay: error.relay, needed: error.needed });
    case 'relayCommand':
      return say('error.relayCommand', { command: error.command });
    case 'submissionUnverified':
      return say('error.submissionUnverified', {}, `error.submissionUnverified.${error.reason}`);
    case 'cancelled':
      return say('error.cancelled');
    case 'dns':
      return say('error.dns', { domain: error.domain });
    case 'certificateBlocked':
      return say('error.certificateBlocked');
    case 'certificateRefused':
      return say(`error.certificateRefused.${error.kind}`, { mailHost: error.mailHost });
    case 'certificateTimeout':
      return say('error.certificateTimeout', { seconds: error.seconds });
    case 'settings':
      return say('error.settings');
    case 'testNotSubmitted':
      return say(`error.testNotSubmitted.${error.failure.kind}`, error.failure.kind === 'refused' ? { code: error.failure.code } : {});
    case 'backupUnusable':
      return say(`error.backupUnusable.${error.problem}`);
    case 'backupForAnotherDomain':
      return say('error.backupForAnotherDomain', { domain: error.domain });
    case 'update':
      return say(`error.update.${error.problem}`);
  }
}

/** An authentication result as a short word; `null` when it could not be seen. */
export function resultText(result: ipc.AuthResult | null): string {
  return result ? t(`test.result.${result}` as MessageKey as MessageKey) : t('test.result.unseen');
}

/** What the mailbox showed, in one sentence. */
export function mailboxText(mailbox: ipc.Mailbox): string {
  switch (mailbox.state) {
    case 'found':
      return t(mailbox.spam ? 'test.mailbox.spam' : 'test.mailbox.inbox', { folder: mailbox.folder });
    case 'noPassword':
      return t('test.mailbox.noPassword', { login: mailbox.login });
    case 'notFound':
      return t('test.mailbox.notFound', { seconds: mailbox.waited });
    case 'loginRefused':
      return t('test.mailbox.loginRefused', { detail: mailbox.detail });
    case 'unreachable':
      return t('test.mailbox.unreachable', { detail: mailbox.detail });
    case 'notAsked':
    case 'notDelivered':
      return t(`test.mailbox.${mailbox.state}` as MessageKey);
  }
}

/** A test-email finding: what was found, its fix, and the step that fixes it. */
export function findingText(finding: ipc.Finding): { found: string; fix: string; step: StepId | null } {
  switch (finding.kind) {
    case 'port25Blocked':
      return { found: t('test.finding.port25Blocked'), fix: t('test.finding.port25Blocked.fix'), step: 'provider' };
    case 'noMailServer':
    case 'policy':
    case 'dmarc':
    case 'reverseDns':
    case 'unencrypted': {
      const step: Record<string, StepId | null> = { noMailServer: null, policy: null, dmarc: 'dns', reverseDns: 'dns', unencrypted: null };
      return { found: t(`test.finding.${finding.kind}` as MessageKey), fix: t(`test.finding.${finding.kind}.fix` as MessageKey), step: step[finding.kind] ?? null };
    }
    case 'tryLater':
      return {
        found: t('test.finding.tryLater', { reply: finding.reply }),
        fix: `${t(`test.refusal.${finding.refusal}` as MessageKey)} ${t('test.retryAt', { when: formatTime(finding.retryAt * 1000) })}`,
        step: null,
      };
    case 'refused':
      return {
        found: t('test.finding.refused', { reply: finding.reply }),
        fix: t(`test.refusal.${finding.refusal}` as MessageKey),
        step: refusalStep[finding.refusal],
      };
    case 'dkim':
      return { found: t(`test.finding.dkim.${finding.problem}` as MessageKey, { record: finding.record }), fix: t('test.finding.dkim.fix'), step: 'dns' };
    case 'spf':
      return { found: t('test.finding.spf', { result: resultText(finding.result) }), fix: t('test.finding.spf.fix'), step: 'dns' };
    case 'spam':
      return { found: t('test.finding.spam', { folder: finding.folder }), fix: t('test.finding.spam.fix'), step: null };
  }
}

const refusalStep: Record<ipc.Refusal, StepId | null> = {
  unauthenticated: 'dns',
  noReverseDns: 'dns',
  blocked: 'dns',
  rateOrReputation: null,
  tryLater: null,
  noSuchUser: null,
  mailboxFull: null,
  other: null,
};

/** What stops a certificate, and its fix; `firewallHow` is the provider's own instructions. */
export function blockerText(blocker: ipc.Blocker, firewallHow: ipc.Localized | null): { found: string; fix: string } {
  switch (blocker.kind) {
    case 'notPointing': {
      const found = blocker.found.length ? list(blocker.found) : t('certificate.blocker.notPointing.none');
      return {
        found: t('certificate.blocker.notPointing', { name: blocker.name, record: blocker.record, found, expected: list(blocker.expected) }),
        fix: t('certificate.blocker.notPointing.fix', { record: blocker.record }),
      };
    }
    case 'portTaken':
      return {
        found: t('certificate.blocker.portTaken', { port: String(blocker.port), program: blocker.program ?? t('certificate.blocker.portTaken.unknown') }),
        fix: t('certificate.blocker.portTaken.fix'),
      };
    case 'portClosed':
      return {
        found: t('certificate.blocker.portClosed', { port: String(blocker.port) }),
        fix: firewallHow ? t('certificate.blocker.portClosed.fix', { how: localized(firewallHow) }) : t('certificate.blocker.portClosed.fixGeneric'),
      };
    case 'caaForbids':
      return {
        found: t('certificate.blocker.caaForbids', { name: blocker.name, found: list(blocker.found) }),
        fix: t('certificate.blocker.caaForbids.fix', { name: blocker.name, ca: blocker.ca }),
      };
    case 'caaRestricts':
      return {
        found: t('certificate.blocker.caaRestricts', { name: blocker.name, found: list(blocker.found), ca: blocker.ca }),
        fix: t('certificate.blocker.caaRestricts.fix', { name: blocker.name, ca: blocker.ca }),
      };
  }
}

export function networkText(failure: ipc.NetworkFailure): string {
  return failure.kind === 'other' ? t('network.other', { detail: failure.detail }) : t(`network.${failure.kind}` as MessageKey);
}

/** Why port 25 could not be reached from this computer. */
export function port25Reason(failure: ipc.NetworkFailure): string {
  return failure.kind === 'other' ? t('network.other', { detail: failure.detail }) : t(`install.port25Reason.${failure.kind}` as MessageKey);
}

/** What is wrong with a field, in the words for that field when it has its own. */
export function problemText(field: ipc.Field, problem: ipc.Problem): string {
  const key = either(`invalid.${field}.${problem.kind}`, `invalid.${problem.kind}` as MessageKey);
  const { kind: _kind, ...values } = problem;
  // A list (the relay's domains) reads as one: "example.com, example.org".
  const words = Object.fromEntries(Object.entries(values).map(([name, value]) => [name, Array.isArray(value) ? value.join(', ') : value]));
  return t(key, words as Params);
}

/** A mail server's name, as people know it. */
export function mailServerName(server: ipc.MailServer): string {
  return t(`mailServer.${server}` as MessageKey);
}

/** A server check's title, what was found, and what to do (empty when nothing is). */
export function checkText(check: ipc.Check): { title: string; found: string; fix: string } {
  const found = check.found;
  const title = t(`check.title.${found.id}` as MessageKey);
  const result = (text: string, fix: MessageKey | null = null) => ({ title, found: text, fix: fix ? t(fix) : '' });
  switch (found.id) {
    case 'os':
      if (found.name === null) return result(t('check.os.unknown'), 'check.os.fix');
      return result(t('check.os.found', { name: found.name }), found.tested ? null : 'check.os.untested');
    case 'arch':
      return found.machine === 'x86_64'
        ? result(t('check.arch.x86_64'))
        : result(t('check.arch.other', { machine: found.machine }), 'check.arch.fix');
    case 'systemd':
      return found.running ? result(t('check.systemd.running')) : result(t('check.systemd.missing'), 'check.systemd.fix');
    case 'ports': {
      if (found.busy.length === 0) return result(t('check.ports.free'));
      const used = found.busy.map((busy) =>
        t('check.ports.used', {
          port: String(busy.port),
          program: busy.mailServer ? mailServerName(busy.mailServer) : (busy.program ?? t('check.ports.unknownProgram')),
        }),
      );
      const mailServer = found.busy.some((busy) => busy.mailServer !== null);
      return result(used.join('; '), mailServer ? 'check.ports.fixMailServer' : 'check.ports.fix');
    }
    case 'addresses':
      if (found.public.length) return result(t('check.addresses.public', { list: list(found.public) }));
      if (found.private.length) return result(t('check.addresses.nat', { list: list(found.private) }), 'check.addresses.fixNat');
      return result(t('check.addresses.none'), 'check.addresses.fixNone');
    case 'outbound25':
      return found.reachable
        ? result(t('check.outbound25.reachable', { target: found.target }))
        : result(t('check.outbound25.blocked', { target: found.target }), 'check.outbound25.fix');
    case 'rdns': {
      const unnamed = found.names.filter((entry) => entry.name === null).map((entry) => entry.ip);
      const named = found.names.flatMap((entry) => (entry.name === null ? [] : [t('check.rdns.named', { ip: entry.ip, name: entry.name })]));
      const parts = [...(unnamed.length ? [t('check.rdns.unnamed', { list: list(unnamed) })] : []), ...named];
      const text = parts.length ? parts.join('; ') : t('check.rdns.none');
      if (check.verdict === 'pass') return result(text);
      // Named, but not as the chosen mail host (often the provider's default name).
      const host = found.mailHost;
      if (host !== null && unnamed.length === 0 && found.names.length > 0) {
        return { title, found: t('check.rdns.notMailHost', { text, mailHost: host }), fix: t('check.rdns.fixMailHost', { mailHost: host }) };
      }
      if (host === null && unnamed.length === 0 && found.names.length > 0) {
        return { title, found: t('check.rdns.notYetCompared', { text }), fix: t('check.rdns.fixLater') };
      }
      return result(text, 'check.rdns.fix');
    }
    case 'clock':
      if (found.synchronised === true) return result(t('check.clock.synchronised'));
      return result(t(found.synchronised === false ? 'check.clock.notSynchronised' : 'check.clock.unknown'), 'check.clock.fix');
    case 'disk':
      if (found.freeMb === null) return result(t('check.disk.unknown'));
      if (check.verdict === 'pass') return result(t('check.disk.free', { mb: found.freeMb }));
      return result(t('check.disk.low', { mb: found.freeMb }), check.verdict === 'fail' ? 'check.disk.fixFull' : 'check.disk.fixLow');
    case 'relay':
      if (found.version === null) return result(t('check.relay.none'));
      return found.running
        ? result(t('check.relay.running', { version: found.version }))
        : result(t('check.relay.stopped', { version: found.version }), 'check.relay.fix');
    case 'memory':
      if (found.availableMb === null) return result(t('check.memory.unknown'));
      if (check.verdict === 'pass') return result(t('check.memory.available', { mb: found.availableMb }));
      return result(t('check.memory.low', { mb: found.availableMb }), 'check.memory.fix');
  }
}

/** What an install stage found or did. */
export function installDetail(detail: ipc.Detail): string {
  switch (detail.kind) {
    case 'dkimMade':
      return t('install.detail.dkimMade', { records: list(detail.records) });
    case 'noFirewall':
    case 'firewallOpen':
      return t(`install.detail.${detail.kind}` as MessageKey, { ...detail, ports: list(detail.ports) });
    case 'firewallOpened':
      return t(detail.ports.length === 1 ? 'install.detail.firewallOpenedOne' : 'install.detail.firewallOpened', {
        manager: detail.manager,
        ports: list(detail.ports),
      });
    default: {
      const { kind, ...values } = detail;
      return t(`install.detail.${kind}` as MessageKey, values as Params);
    }
  }
}

/** A record's short name, e.g. "DKIM key". */
export function recordLabel(record: ipc.DnsRecord): string {
  return t(`dns.label.${record.purpose}` as MessageKey, { host: record.host });
}

/** What a record is for, in a sentence. */
/** The value's parts, for DNS panels with a field each (MX, CAA). */
export function fieldsText(record: ipc.DnsRecord): string {
  switch (record.kind) {
    case 'MX':
      return t('dns.fields.MX', { preference: record.fields[0] ?? '', host: record.fields[1] ?? '' });
    case 'CAA':
      return t('dns.fields.CAA', { flags: record.fields[0] ?? '', tag: record.fields[1] ?? '', value: record.fields[2] ?? '' });
    default:
      return '';
  }
}

export function recordPurpose(record: ipc.DnsRecord): string {
  return t(`dns.purpose.${record.purpose}` as MessageKey);
}

/** What is wrong with a published record. */
export function mismatchText(mismatch: ipc.Mismatch): string {
  const { kind, ...values } = mismatch;
  const params: Params = {};
  for (const [name, value] of Object.entries(values)) params[name] = Array.isArray(value) ? list(value) : (value as string | number);
  return t(`dns.mismatch.${kind}` as MessageKey, params);
}

/** What is wrong with a record's state, or null when it is right or merely missing. */
export function statusProblem(status: ipc.RecordStatus): string | null {
  return status.state === 'different' || status.state === 'conflicting' ? mismatchText(status.why) : null;
}

/** Where the user stands with their records, in one sentence. */
export function verdictText(report: ipc.DnsReport): string {
  const { right, total, spreading, next } = report.verdict;
  const line = next === null ? undefined : report.lines[next];
  if (!line) {
    if (spreading === 0) return t('dns.verdict.allRight', { total });
    return t(spreading === 1 ? 'dns.verdict.spreadingOne' : 'dns.verdict.spreadingSome', { total, spreading });
  }
  const label = recordLabel(line.record);
  const problem = statusProblem(line.status);
  const nextText = problem ? t('dns.verdict.fix', { label, problem }) : t('dns.verdict.publish', { label });
  return t('dns.verdict.next', { right, total, next: nextText });
}

/** Why a blocklist could not be read. */
export function uncheckedText(why: ipc.Unchecked, listName: string): string {
  return why.kind === 'lookupFailed'
    ? t('dns.unchecked.lookupFailed', { detail: why.detail })
    : t(`dns.unchecked.${why.kind}` as MessageKey, { list: listName });
}

/** A moment (seconds since the epoch) as the reader's locale writes a date and time. */
export function when(seconds: number): string {
  return formatDate(seconds * 1000);
}

/** Where the dashboard's fix for an item is: a step to go to, or a section further down. */
export type HealthAction = { kind: 'step'; step: StepId; label: MessageKey } | { kind: 'section'; section: 'queue' | 'deliveries' | 'domains'; label: MessageKey };

/** A health item in words: its title, what was found, the fix, and where the fix is. */
export function healthText(item: ipc.HealthItem): { title: string; found: string; fix: string; action: HealthAction | null } {
  const found = item.found;
  const title = t(`dashboard.title.${found.id === 'noCertificate' ? 'certificate' : found.id === 'dnsUnchecked' ? 'dns' : found.id}` as MessageKey);
  const good = item.verdict === 'pass';
  const result = (text: string, fix = '', action: HealthAction | null = null) => ({ title, found: text, fix: good ? '' : fix, action: good ? null : action });
  const step = (step: StepId, label: MessageKey): HealthAction => ({ kind: 'step', step, label });
  const unknown = t('dashboard.unknown');
  switch (found.id) {
    case 'relay':
      if (found.running) return result(t('dashboard.relay.running', { when: when(found.since ?? 0) }));
      return result(
        found.since === null ? t('dashboard.relay.never') : t('dashboard.relay.stopped', { when: when(found.since) }),
        t('dashboard.relay.fix'),
        step('install', 'dashboard.go.install'),
      );
    case 'ports':
      if (found.closed.length === 0) return result(t('dashboard.ports.open', { ports: list(found.open) }));
      return result(
        found.open.length
          ? t('dashboard.ports.closed', { closed: list(found.closed), open: list(found.open) })
          : t('dashboard.ports.closedAll', { closed: list(found.closed) }),
        t('dashboard.ports.fix'),
      );
    case 'certificate': {
      const expires = when(found.expires);
      if (found.selfSigned) return result(t('dashboard.certificate.selfSigned'), t('dashboard.certificate.selfSigned.fix'), step('certificate', 'dashboard.go.certificate'));
      const parts = [t('dashboard.certificate.ca', { issuer: found.issuer, expires })];
      if (found.nextRenewal !== null) parts.push(t('dashboard.certificate.renewal', { when: when(found.nextRenewal) }));
      if (item.verdict === 'fail') {
        return result(t('dashboard.certificate.ending', { expires }), t('dashboard.certificate.ending.fix'), step('certificate', 'dashboard.go.certificate'));
      }
      if (found.failure !== null) {
        parts.push(t('dashboard.certificate.failing', { reason: t(`error.certificateRefused.${found.failure}` as MessageKey) }));
        return result(parts.join('; '), t('dashboard.certificate.failing.fix'), step('certificate', 'dashboard.go.certificate'));
      }
      return result(parts.join('; '));
    }
    case 'noCertificate':
      return result(t('dashboard.certificate.none'), t('dashboard.relay.fix'), step('install', 'dashboard.go.install'));
    case 'queue': {
      if (found.waiting === 0) return result(t('dashboard.queue.empty'));
      const oldest = when(found.oldest ?? 0);
      if (found.stuck > 0) {
        return result(t('dashboard.queue.stuck', { stuck: found.stuck, count: found.waiting, oldest }), t('dashboard.queue.stuck.fix'), {
          kind: 'section',
          section: 'queue',
          label: 'dashboard.go.queue',
        });
      }
      return result(t('dashboard.queue.waiting', { count: found.waiting, oldest, next: when(found.nextRetry ?? 0) }));
    }
    case 'deliveries':
      return result(
        t('dashboard.deliveries.counts', { delivered: found.counts.delivered, bounced: found.counts.bounced, since: when(found.counts.since) }),
        t('dashboard.deliveries.bounced.fix'),
        { kind: 'section', section: 'deliveries', label: 'dashboard.go.deliveries' },
      );
    case 'inbound': {
      const since = when(found.since);
      if (found.refused.length === 0) return result(t('dashboard.inbound.counts', { forwarded: found.forwarded, since }));
      const refused = found.refused.map((entry) => t(`dashboard.refusal.${entry.reason}` as MessageKey, { count: entry.count }));
      return result(t('dashboard.inbound.refused', { forwarded: found.forwarded, since, refused: refused.join(', ') }));
    }
    case 'dns': {
      // A further domain's records are fixed in the dashboard's Domains section, the first's at the DNS step.
      if (!found.firstWrong && found.furtherWrong.length > 0) {
        const values = { right: found.right, total: found.total, domains: found.furtherWrong.join(', ') };
        return result(t('dashboard.dns.wrongDomains', values), t('dashboard.dns.fixDomains'), { kind: 'section', section: 'domains', label: 'dashboard.go.domains' });
      }
      if (found.right < found.total) return result(t('dashboard.dns.wrong', { right: found.right, total: found.total }), t('dashboard.dns.fix'), step('dns', 'dashboard.go.dns'));
      if (found.spreading > 0) return result(t('dashboard.dns.spreading', { total: found.total, spreading: found.spreading }), t('dashboard.dns.fix'), step('dns', 'dashboard.go.dns'));
      return result(t('dashboard.dns.right', { total: found.total }));
    }
    case 'dnsUnchecked':
      return result(t('dashboard.dns.unchecked', { detail: found.detail }), t('dashboard.dns.unchecked.fix'));
    case 'blocklists': {
      if (found.listed.length === 0) {
        return result(found.unchecked === 0 ? t('dashboard.blocklists.clean', { asked: found.asked }) : t('dashboard.blocklists.cleanSome', { asked: found.asked, unchecked: found.unchecked }));
      }
      const listed = found.listed.map((entry) => `${entry.subject} (${entry.list.name})`);
      return result(t('dashboard.blocklists.listed', { listed: listed.join(', ') }), t('dashboard.blocklists.fix'));
    }
    case 'outbound25':
      return found.reachable
        ? result(t('check.outbound25.reachable', { target: found.target }))
        : result(t('check.outbound25.blocked', { target: found.target }), t('check.outbound25.fix'), step('provider', 'dashboard.go.provider'));
    case 'version': {
      const values = { running: found.running ?? '', carried: found.carried };
      if (found.running === null) return result(t('dashboard.version.never', values));
      switch (found.standing) {
        case 'current':
          return result(t('dashboard.version.current', values));
        case 'older':
          return result(t('dashboard.version.older', values), t('dashboard.version.older.fix'), step('install', 'dashboard.go.upgrade'));
        case 'newer':
          return result(t('dashboard.version.newer', values), t('dashboard.version.newer.fix'));
      }
      break;
    }
    case 'disk': {
      const text = found.freeMb === null ? unknown : t('dashboard.disk.free', { free: found.freeMb, total: found.totalMb ?? '?' });
      return result(text, item.verdict === 'fail' ? t('dashboard.disk.fixFull') : t('check.disk.fixLow'));
    }
    case 'memory': {
      const text = found.availableMb === null ? unknown : t('dashboard.memory.available', { available: found.availableMb, total: found.totalMb ?? '?' });
      return result(text, t('check.memory.fix'));
    }
  }
  return result(unknown);
}

/** Why a delivery did not happen, in words: the refusal's usual meaning, or the problem. */
export function deliveryText(delivery: ipc.FinishedDelivery): string {
  if (delivery.record.outcome === 'delivered') return '';
  if (delivery.refusal !== null) return t(`test.refusal.${delivery.refusal}` as MessageKey);
  const problem = delivery.record.problem;
  if (!problem || problem.kind === 'reply') return t('test.refusal.other');
  return t(`dashboard.problem.${problem.kind}` as MessageKey);
}

/** The desktop notifications for a background check: one per thing that got worse. */
export function watchedNotifications(watched: ipc.Watched): { title: string; body: string }[] {
  if (watched.kind === 'failed') {
    const text = errorText(watched.error);
    return [{ title: t('notify.unreachable'), body: [text.message, text.hint].filter(Boolean).join(' ') }];
  }
  return watched.worse.map((item) => {
    const text = healthText(item);
    return { title: t('notify.title', { title: text.title }), body: [text.found, text.fix].filter(Boolean).join('. ') };
  });
}
