/**
 * A user's preferences: the message types and sources they mute. Kept per user on the server, set by
 * the user's clients (`prefs` frames) and by services (a `prefs` control envelope), applied when a
 * message for the user is delivered. Types the deployer marks mandatory are never muted.
 */

/** What a user mutes. */
export interface Preferences {
  /** Message types the user does not want pushed (e.g. `promo`). */
  readonly mutedTypes: readonly string[];
  /** Sources the user does not want pushed (e.g. `marketing`). */
  readonly mutedSources: readonly string[];
  /** When they last changed, epoch milliseconds (0: never set). */
  readonly version: number;
}

/** A change to preferences: what to start and stop muting. */
export interface PreferencesChange {
  readonly mute?: { readonly types?: readonly string[]; readonly sources?: readonly string[] };
  readonly unmute?: { readonly types?: readonly string[]; readonly sources?: readonly string[] };
}

/** Preferences of a user who never set any. */
export const NO_PREFERENCES: Preferences = { mutedTypes: [], mutedSources: [], version: 0 };

/** Most types or sources one change may name in each list. */
export const MAX_PREFERENCE_NAMES = 50;

/** Most types, and most sources, a user may mute. */
export const MAX_MUTED = 200;

/** Whether a message is muted for a user with these preferences (a mandatory type never is). */
export function isMuted(
  preferences: Preferences | undefined,
  message: { readonly type: string; readonly source?: string },
  mandatoryTypes: readonly string[],
): boolean {
  if (preferences === undefined || mandatoryTypes.includes(message.type)) return false;
  if (preferences.mutedTypes.includes(message.type)) return true;
  return message.source !== undefined && preferences.mutedSources.includes(message.source);
}

/** The reason a change cannot be made, or undefined: it may not mute a mandatory type. */
export function preferencesChangeProblem(
  change: PreferencesChange,
  mandatoryTypes: readonly string[],
): string | undefined {
  for (const kind of ['types', 'sources'] as const) {
    const both = (change.mute?.[kind] ?? []).filter((name) => change.unmute?.[kind]?.includes(name));
    if (both.length > 0) return `"${both[0]}" is both muted and unmuted`;
  }
  const mandatory = (change.mute?.types ?? []).filter((type) => mandatoryTypes.includes(type));
  if (mandatory.length > 0) {
    return `type${mandatory.length > 1 ? 's' : ''} ${mandatory.map((t) => `"${t}"`).join(', ')} cannot be muted (mandatory)`;
  }
  return undefined;
}

/** A user's preferences as the table holds them (see table-schema.ts). */
export function preferencesOf(item: Record<string, unknown> | undefined): Preferences {
  if (item === undefined) return NO_PREFERENCES;
  const names = (value: unknown) =>
    Array.isArray(value) ? value.filter((name): name is string => typeof name === 'string') : [];
  return {
    mutedTypes: names(item.mutedTypes),
    mutedSources: names(item.mutedSources),
    version: typeof item.version === 'number' ? item.version : 0,
  };
}
