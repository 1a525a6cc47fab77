// The only file that talks to the Rust side. One typed function per command; every failure
// arrives as an `IpcError`. The Rust mirror is src-tauri/src/ipc/.

import { Channel, invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import { disable as disableAutostart, enable as enableAutostart, isEnabled as autostartEnabled } from '@tauri-apps/plugin-autostart';
import { isPermissionGranted, requestPermission, sendNotification } from '@tauri-apps/plugin-notification';
import { open as openDialog, save as saveDialog } from '@tauri-apps/plugin-dialog';
import { openUrl } from '@tauri-apps/plugin-opener';
import type { StepId } from './steps';

export type * from './generated/ipc';
export { INSTALL_STAGES } from './generated/ipc';
import type {
  About,
  Language,
  UpdateOffer,
  UpdateProgress,
  Address,
  BackupSaved,
  BlocklistEntry,
  Carried,
  CertificateReport,
  Check,
  DnsReport,
  DkimSwitch,
  DomainForm,
  DomainRemoved,
  ExtraDomainForm,
  Health,
  HostKey,
  InstallReport,
  IpcError,
  KeychainState,
  LoginForm,
  MailServer,
  ProfileView,
  Progress,
  Provider,
  QueueDeleted,
  QueueRetry,
  RelayStatus,
  Restored,
  SendMailAs,
  SmtpUser,
  ImapAccount,
  TestEmail,
  TestMessage,
  TestReport,
  TrayWords,
  UninstallPlan,
  UserChange,
  Watched,
} from './generated/ipc';

/** Stable error codes: the `code` of every `IpcError` variant. */
export type ErrorCode = IpcError['code'];

/** Every code, checked complete by the compiler (a missing or unknown one is a type error). */
const ERROR_CODES: Record<ErrorCode, true> = {
  profileUnavailable: true,
  relayDamaged: true,
  internal: true,
  invalidInput: true,
  notReady: true,
  unreachable: true,
  timeout: true,
  hostKeyChanged: true,
  hostKeyNotShown: true,
  loginRefused: true,
  badKey: true,
  ssh: true,
  installFailed: true,
  rolledBack: true,
  relayOutdated: true,
  relayCommand: true,
  keychain: true,
  keychainMissing: true,
  submissionUnverified: true,
  cancelled: true,
  dns: true,
  certificateBlocked: true,
  certificateRefused: true,
  certificateTimeout: true,
  settings: true,
  testNotSubmitted: true,
  backupUnusable: true,
  backupForAnotherDomain: true,
  update: true,
};

export const errorCodes = Object.keys(ERROR_CODES) as ErrorCode[];

/** Turns whatever a failed call threw into an `IpcError`, so the UI has one shape to show. The
 * Rust side only ever throws `IpcError`s (their shape is generated from its types); anything
 * else — a command that does not exist, a plugin's own failure — is an internal error. */
export function toIpcError(thrown: unknown): IpcError {
  if (typeof thrown === 'object' && thrown !== null) {
    const code = (thrown as { code?: unknown }).code;
    if (typeof code === 'string' && code in ERROR_CODES) return thrown as IpcError;
  }
  const detail = thrown instanceof Error ? thrown.message : String(thrown);
  return { code: 'internal', detail };
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
export const setLanguage = (language: Language): Promise<ProfileView> => call('set_language', { language });

/** Words the tray menu (there is one when the app was started at login). */
export const wordTray = (words: TrayWords): Promise<void> => call('word_tray', { words });

/** The VPS provider catalogue. */
export const providers = (): Promise<Provider[]> => call('providers');

/** The support ticket asking a provider to open port 25. */
export const port25Ticket = (provider: string): Promise<string> => call('port25_ticket', { provider });

/** Remembers the chosen provider (null: "I already have a server"). */
export const chooseProvider = (provider: string | null): Promise<ProfileView> => call('choose_provider', { provider });

/** Re-hashes the carried relay, reporting progress, and resolves when it matches. */
export function verifyRelay(onProgress: (event: Progress) => void): Promise<Carried> {
  return call('verify_relay', { onProgress: channel(onProgress) });
}

function channel(onProgress: (event: Progress) => void): Channel<Progress> {
  const created = new Channel<Progress>();
  created.onmessage = onProgress;
  return created;
}

/** Asks the update feed for a newer Outpost (null: this one is the newest). */
export const checkUpdate = (): Promise<UpdateOffer | null> => call('check_update');

/** Downloads the offered update, installs it once its signature verifies; resolves with its version. */
export function installUpdate(onProgress: (event: UpdateProgress) => void): Promise<string> {
  const created = new Channel<UpdateProgress>();
  created.onmessage = onProgress;
  return call('install_update', { onProgress: created });
}

/** Starts Outpost again (to run an installed update). */
export const restartApp = (): Promise<void> => call('restart_app');

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
export const stopMailServers = (onProgress: (event: Progress) => void): Promise<MailServer[]> =>
  call('stop_mail_servers', { onProgress: channel(onProgress) });

/** Stops the long operation in progress. */
export const cancel = (): Promise<void> => call('cancel');

/** Checks and saves the domain form. */
export const saveDomain = (form: DomainForm): Promise<ProfileView> => call('save_domain', { form });

/** Installs the relay, streaming progress, and verifies port 587 from this computer. */
export const installRelay = (onProgress: (event: Progress) => void): Promise<InstallReport> =>
  call('install_relay', { onProgress: channel(onProgress) });

/** An SMTP password (the install's own user's without `user`), from the keychain, to see or copy into a mail program. */
export const smtpPassword = (user: string | null = null): Promise<string> => call('smtp_password', { user });

/** Checks what a CA needs, opens ports 80 and 443, and has the relay get its certificate. */
export const getCertificate = (onProgress: (event: Progress) => void): Promise<CertificateReport> =>
  call('get_certificate', { onProgress: channel(onProgress) });

/** What the relay on the server reports now: its certificates and their renewal. */
export const relayStatus = (): Promise<RelayStatus> => call('relay_status');

/** Sends a test email saying `words` through the relay and follows it to the mailbox, hop by hop. */
export const sendTestEmail = (request: TestEmail, words: TestMessage, onProgress: (event: Progress) => void): Promise<TestReport> =>
  call('send_test_email', { request, words, onProgress: channel(onProgress) });

/** Whether this computer's keychain can keep a login: asked before one is typed. */
export const keychainState = (): Promise<KeychainState> => call('keychain_state');

/** What Gmail's "Send mail as" dialog asks for, and whether Gmail's confirmation came through. */
export const sendMailAs = (): Promise<SendMailAs> => call('send_mail_as');

/** Keeps a mailbox's IMAP password in the keychain (never in the profile). */
export const saveImapPassword = (account: ImapAccount, password: string): Promise<void> =>
  call('save_imap_password', { account, password });

/** The DNS records, checked at the zone's servers and public resolvers. */
export const dnsReport = (): Promise<DnsReport> => call('dns_report');

/** The server and domain on the common blocklists. */
export const blocklists = (): Promise<BlocklistEntry[]> => call('blocklists');

/** Asks the user where to save a file (the OS's own dialog); null if they cancel. */
export async function chooseSaveFile(title: string, defaultPath: string): Promise<string | null> {
  try {
    return (await saveDialog({ title, defaultPath })) ?? null;
  } catch (thrown) {
    throw toIpcError(thrown);
  }
}

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

/** The dashboard: the server's health judged item by item, the queue and the latest deliveries. */
export const health = (): Promise<Health> => call('health');

/** "Retry now" on a queued message. */
export const queueRetry = (id: string): Promise<QueueRetry> => call('queue_retry', { id });

/** "Delete" on a queued message, once the user confirmed: it leaves the queue undelivered. */
export const queueDelete = (id: string): Promise<QueueDeleted> => call('queue_delete', { id });

/** The SMTP users on the server, the install's own first. */
export const smtpUsers = (): Promise<SmtpUser[]> => call('smtp_users');

/** Adds, re-passwords or removes an SMTP user; returns them all. */
export const changeSmtpUser = (change: UserChange): Promise<SmtpUser[]> => call('change_smtp_user', { change });

/** Exactly what "Uninstall" would remove from the server and the keychain. */
export const uninstallPlan = (): Promise<UninstallPlan> => call('uninstall_plan');

/** Removes the relay from the server and its secrets from the keychain. */
export const uninstall = (): Promise<ProfileView> => call('uninstall');

/** Calls `handler` with each background health check's result; returns how to stop. */
export const onWatched = (handler: (watched: Watched) => void): Promise<() => void> =>
  listen<Watched>('health-watch', (event) => handler(event.payload));

/** Shows a desktop notification (asking the system's permission the first time it is needed). */
export async function notify(title: string, body: string): Promise<void> {
  if (!(await isPermissionGranted()) && (await requestPermission()) !== 'granted') return;
  sendNotification({ title, body });
}

/** Whether Outpost starts at login, quietly in the tray. */
export const startsAtLogin = (): Promise<boolean> => autostartEnabled();

/** Starts Outpost at login (in the tray), or stops doing so. */
export const setStartsAtLogin = (on: boolean): Promise<void> => (on ? enableAutostart() : disableAutostart());

/** DKIM rotation, stage 1: a new key on the server, its record to publish. */
export const dkimRotationStart = (): Promise<ProfileView> => call('dkim_rotation_start');

/** DKIM rotation, stage 2: signing switches to the new key once its record is visible. */
export const dkimRotationSwitch = (onProgress: (event: Progress) => void): Promise<[DkimSwitch, ProfileView]> =>
  call('dkim_rotation_switch', { onProgress: channel(onProgress) });

/** DKIM rotation, stage 3: a week after the switch, the old key goes. */
export const dkimRotationFinish = (): Promise<ProfileView> => call('dkim_rotation_finish');

/** "Save a backup" to `path`. */
export const saveBackup = (path: string): Promise<BackupSaved> => call('save_backup', { path });

/** "Restore from a backup" onto the connected server: an install, then the backup's files back. */
export const restoreBackup = (path: string, onProgress: (event: Progress) => void): Promise<[Restored, ProfileView]> =>
  call('restore_backup', { path, onProgress: channel(onProgress) });

/** "Add a domain": checked, then installed on the relay (its key, aliases and login). */
export const addDomain = (form: ExtraDomainForm, onProgress: (event: Progress) => void): Promise<ProfileView> =>
  call('add_domain', { form, onProgress: channel(onProgress) });

/** "Remove" on a further domain (confirmed first). */
export const removeDomain = (domain: string, onProgress: (event: Progress) => void): Promise<[DomainRemoved, ProfileView]> =>
  call('remove_domain', { domain, onProgress: channel(onProgress) });

/** A further domain's records, checked at its zone's servers and at public resolvers. */
export const extraDnsReport = (domain: string): Promise<DnsReport> => call('extra_dns_report', { domain });
