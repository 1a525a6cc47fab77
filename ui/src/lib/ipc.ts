// The only file that talks to the Rust side. One typed function per command; every failure
// arrives as an `IpcError`. The Rust mirror is src-tauri/src/ipc/.

import { Channel, invoke } from '@tauri-apps/api/core';
import { open as openDialog } from '@tauri-apps/plugin-dialog';
import { openUrl } from '@tauri-apps/plugin-opener';
import type { StepId } from './steps';

/** Stable error codes; src-tauri/src/ipc/error.rs `ErrorCode` (a Rust test keeps them equal). */
export type ErrorCode =
  | 'profileUnavailable'
  | 'relayDamaged'
  | 'internal'
  | 'invalidInput'
  | 'notConnected'
  | 'unreachable'
  | 'timeout'
  | 'hostKeyChanged'
  | 'loginRefused'
  | 'badKey'
  | 'ssh'
  | 'installFailed'
  | 'rolledBack'
  | 'keychain'
  | 'submissionUnverified'
  | 'cancelled'
  | 'dns';

/** An error as every command reports it: what happened and what to do. */
export interface IpcError {
  code: ErrorCode;
  message: string;
  hint: string;
  /** For `invalidInput`: the form field to correct. */
  field?: string;
}

/** The relay the app carries and installs (outpost_setup::relay::Carried). */
export interface CarriedRelay {
  version: string;
  sha256: string;
  target: string;
  size: number;
}

export interface About {
  appVersion: string;
  relay: CarriedRelay;
}

export interface ProfileView {
  step: StepId;
  reached: StepId;
  /** The chosen VPS provider's id; null for "I already have a server" or not chosen yet. */
  provider: string | null;
  /** Where a damaged profile was moved at startup. */
  setAside: string | null;
  /** Why the profile could not be read at startup. */
  unreadable: string | null;
  server: Server | null;
  domain: Domain | null;
  installed: Installed | null;
}

export type Login = 'password' | 'key' | 'new-key';

/** The connected server (outpost_setup::choices::Server). */
export interface Server {
  host: string;
  port: number;
  user: string;
  fingerprint: string;
  login: Login;
}

export type DmarcPolicy = 'none' | 'quarantine' | 'reject';

/** The domain choices (outpost_setup::choices::Domain). */
export interface Domain {
  domain: string;
  mailHost: string;
  sender: string;
  forwardTo: string | null;
  ipv6: boolean;
  dmarc: DmarcPolicy;
}

/** What the last install left on the server (outpost_setup::profile::Installed). */
export interface Installed {
  relayVersion: string;
  addresses: string[];
  dkim: [string, string][];
  smtpUser: string;
}

export interface Address {
  host: string;
  port: number;
  user: string;
}

export interface LoginForm {
  kind: Login;
  password?: string;
  keyFile?: string;
  passphrase?: string;
}

export interface HostKey {
  fingerprint: string;
  algorithm: string;
}

/** One server check (outpost_setup::checks::Check). */
export interface Check {
  id: string;
  verdict: 'pass' | 'warn' | 'fail';
  found: string;
  fix: string;
}

export interface DomainForm {
  domain: string;
  mailHost: string;
  sender: string;
  forwardTo: string;
  ipv6: boolean;
  dmarc: DmarcPolicy;
}

export interface InstallStep {
  id: string;
  changed: boolean;
  detail: string;
}

export interface InstallReport {
  steps: InstallStep[];
  status: {
    version: string;
    running: boolean;
    listeners: [string, string][];
    certificates: { names: string[]; not_after: string; self_signed: boolean; sha256: string }[];
    queued: number;
  };
  submission: { tlsVersion: string; auth: string[]; authBeforeTls: boolean };
  smtpUser: string;
  millis: number;
}

/** A VPS provider from the catalogue (outpost_setup::providers::Provider). */
export interface Provider {
  id: string;
  name: string;
  port25: 'open' | 'on-request' | 'restricted';
  port25_how: string;
  rdns: 'self-service' | 'automatic' | 'request';
  rdns_how: string;
  ipv6_rdns: boolean;
  price_hint: string;
  panel: string;
  source: string;
  checked: string;
  how_checked: 'docs' | 'recalled';
}

/** Progress of a long operation (outpost_setup::progress::Progress). */
export type Progress =
  | { kind: 'stage'; id: string }
  | { kind: 'advance'; done: number; total: number }
  | { kind: 'log'; line: string };

const ERROR_CODES: readonly ErrorCode[] = [
  'profileUnavailable',
  'relayDamaged',
  'internal',
  'invalidInput',
  'notConnected',
  'unreachable',
  'timeout',
  'hostKeyChanged',
  'loginRefused',
  'badKey',
  'ssh',
  'installFailed',
  'rolledBack',
  'keychain',
  'submissionUnverified',
  'cancelled',
  'dns',
];

/** Turns whatever a failed call threw into an `IpcError`, so the UI has one shape to show. */
export function toIpcError(thrown: unknown): IpcError {
  if (typeof thrown === 'object' && thrown !== null) {
    const { code, message, hint, field } = thrown as Record<string, unknown>;
    if (typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code)) {
      return {
        code: code as ErrorCode,
        message: typeof message === 'string' ? message : '',
        hint: typeof hint === 'string' ? hint : '',
        ...(typeof field === 'string' ? { field } : {}),
      };
    }
  }
  const message = thrown instanceof Error ? thrown.message : String(thrown);
  return { code: 'internal', message, hint: 'This is a bug in Outpost. Restart the app and try again.' };
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (thrown) {
    throw toIpcError(thrown);
  }
}

/** The app's and the carried relay's versions. */
export const about = (): Promise<About> => call('about');

/** The saved progress. */
export const loadProfile = (): Promise<ProfileView> => call('load_profile');

/** Moves to a step and saves it. */
export const goToStep = (step: StepId): Promise<ProfileView> => call('go_to_step', { step });

/** The VPS provider catalogue. */
export const providers = (): Promise<Provider[]> => call('providers');

/** The support ticket asking a provider to open port 25. */
export const port25Ticket = (provider: string): Promise<string> => call('port25_ticket', { provider });

/** Remembers the chosen provider (null: "I already have a server"). */
export const chooseProvider = (provider: string | null): Promise<ProfileView> => call('choose_provider', { provider });

/** Re-hashes the carried relay, reporting progress, and resolves when it matches. */
export function verifyRelay(onProgress: (event: Progress) => void): Promise<CarriedRelay> {
  return call('verify_relay', { onProgress: channel(onProgress) });
}

function channel(onProgress: (event: Progress) => void): Channel<Progress> {
  const created = new Channel<Progress>();
  created.onmessage = onProgress;
  return created;
}

/** Reads the server's host key for the user to confirm. */
export const firstContact = (address: Address): Promise<HostKey> => call('first_contact', { address });

/** Makes a new SSH key (kept in the keychain) and returns its authorized_keys line. */
export const newSshKey = (address: Address): Promise<string> => call('new_ssh_key', { address });

/** Signs in with the confirmed host key and saves the server. */
export const connect = (address: Address, fingerprint: string, login: LoginForm): Promise<ProfileView> =>
  call('connect', { address, fingerprint, login });

/** Runs every server check. */
export const runChecks = (): Promise<Check[]> => call('run_checks');

/** Stops and disables a preinstalled mail server; returns the ones stopped. */
export const stopMailServers = (onProgress: (event: Progress) => void): Promise<string[]> =>
  call('stop_mail_servers', { onProgress: channel(onProgress) });

/** Stops the long operation in progress. */
export const cancel = (): Promise<void> => call('cancel');

/** Checks and saves the domain form. */
export const saveDomain = (form: DomainForm): Promise<ProfileView> => call('save_domain', { form });

/** Installs the relay, streaming progress, and verifies port 587 from this computer. */
export const installRelay = (onProgress: (event: Progress) => void): Promise<InstallReport> =>
  call('install_relay', { onProgress: channel(onProgress) });

/** A record's state at the zone's own servers (outpost_setup::dns::check::Status). */
export type RecordStatus =
  | { state: 'ok' }
  | { state: 'missing' }
  | { state: 'different'; hint: string }
  | { state: 'conflicting'; hint: string };

export interface DnsLine {
  record: {
    kind: 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR';
    name: string;
    host: string;
    value: string;
    ttl: number;
    purpose: string;
    need: 'required' | 'recommended';
  };
  status: RecordStatus;
  found: string[];
  label: string;
  propagation: { seenBy: number; asked: number; visibleWithin: number } | null;
}

export type DnsWarning =
  | { kind: 'mxTakesMailAway'; current: string[] }
  | { kind: 'severalSpfRecords'; found: string[] }
  | { kind: 'severalDmarcRecords'; found: string[] };

export interface DnsReport {
  zone: string;
  lines: DnsLine[];
  warnings: DnsWarning[];
  spf: { ip: string; result: string }[];
  zoneFile: string;
  right: number;
  total: number;
  verdict: string;
}

export interface BlocklistEntry {
  list: { name: string; zone: string; keyed: 'ip' | 'domain'; removal: string };
  subject: string;
  listing: { state: 'notListed' } | { state: 'listed'; codes: string[] } | { state: 'couldNotCheck'; reason: string };
}

/** The DNS records, checked at the zone's servers and public resolvers. */
export const dnsReport = (): Promise<DnsReport> => call('dns_report');

/** The server and domain on the common blocklists. */
export const blocklists = (): Promise<BlocklistEntry[]> => call('blocklists');

/** Asks the user to pick a file (the OS's own dialog); null if they cancel. */
export async function chooseFile(title: string): Promise<string | null> {
  try {
    const chosen = await openDialog({ title, multiple: false, directory: false });
    return typeof chosen === 'string' ? chosen : null;
  } catch (thrown) {
    throw toIpcError(thrown);
  }
}

/** Opens a web page in the user's browser. */
export async function openInBrowser(url: string): Promise<void> {
  try {
    await openUrl(url);
  } catch (thrown) {
    throw toIpcError(thrown);
  }
}
