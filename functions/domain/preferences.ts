/**
 * Changing a user's preferences and telling every device of the user, whoever made the change (a
 * client's `prefs` frame or a service's `prefs` control envelope). Applying them is part of
 * delivery (domain/delivery.ts): a muted message is kept as read and pushed to no device.
 */

import { PushlineError } from '../shared/errors.ts';
import { MAX_MUTED, type Preferences, type PreferencesChange } from '../shared/preferences.ts';
import type { PrefsFrame } from '../shared/protocol.ts';
import { type DeliveryPorts, postToUser } from './delivery.ts';

/** Users' preferences rows. */
export interface PreferencesStore {
  get(userId: string): Promise<Preferences>;
  /** Applies a change (TooManyMutedError past MAX_MUTED) and returns the preferences after it. */
  change(userId: string, change: PreferencesChange, nowMs: number): Promise<Preferences>;
}

/** A change would mute more than MAX_MUTED types or sources. */
export class TooManyMutedError extends PushlineError {
  constructor() {
    super('INVALID_REQUEST', `At most ${MAX_MUTED} types and ${MAX_MUTED} sources can be muted.`);
  }
}

/** The `prefs` frame of these preferences. */
export function prefsFrame(preferences: Preferences, mandatoryTypes: readonly string[]): PrefsFrame {
  return {
    kind: 'prefs',
    muted: { types: [...preferences.mutedTypes], sources: [...preferences.mutedSources] },
    mandatory: [...mandatoryTypes],
    version: preferences.version,
  };
}

/** Applies a change and posts the new preferences to every device of the user. */
export async function changePreferences(
  ports: { readonly preferences: PreferencesStore } & Pick<DeliveryPorts, 'connections' | 'poster' | 'warn'>,
  userId: string,
  change: PreferencesChange,
  mandatoryTypes: readonly string[],
  nowMs: number,
): Promise<PrefsFrame> {
  const frame = prefsFrame(await ports.preferences.change(userId, change, nowMs), mandatoryTypes);
  await postToUser(ports, userId, JSON.stringify(frame), 8);
  return frame;
}
