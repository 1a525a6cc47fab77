// The only file that talks to the Rust side. One typed function per command; every failure
// arrives as an `IpcError`. The Rust mirror is src-tauri/src/ipc/.

import { Channel, invoke } from '@tauri-apps/api/core';
import type { StepId } from './steps';

/** Stable error codes; src-tauri/src/ipc/error.rs `ErrorCode` (a Rust test keeps them equal). */
export type ErrorCode = 'profileUnavailable' | 'relayDamaged' | 'internal';

/** An error as every command reports it: what happened and what to do. */
export interface IpcError {
  code: ErrorCode;
  message: string;
  hint: string;
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

const ERROR_CODES: readonly ErrorCode[] = ['profileUnavailable', 'relayDamaged', 'internal'];

/** Turns whatever a failed call threw into an `IpcError`, so the UI has one shape to show. */
export function toIpcError(thrown: unknown): IpcError {
  if (typeof thrown === 'object' && thrown !== null) {
    const { code, message, hint } = thrown as Record<string, unknown>;
    if (typeof code === 'string' && (ERROR_CODES as readonly string[]).includes(code)) {
      return {
        code: code as ErrorCode,
        message: typeof message === 'string' ? message : '',
        hint: typeof hint === 'string' ? hint : '',
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
  const channel = new Channel<Progress>();
  channel.onmessage = onProgress;
  return call('verify_relay', { onProgress: channel });
}
