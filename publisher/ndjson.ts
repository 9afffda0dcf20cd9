/**
 * Reads messages to publish from NDJSON text: one envelope a line, as services publish them, with
 * or without `v`. Pure (no I/O), so that a whole file is checked before anything is sent.
 */
import {
  checkEnvelope,
  type Envelope,
  envelopeSizeProblem,
  MAX_USERS_PER_ENVELOPE,
} from '../functions/shared/envelope.ts';
import { InvalidEnvelopeError } from '../functions/shared/errors.ts';
import { memberText } from '../functions/shared/json-text.ts';
import { JsonText, type PushMessage } from './index.ts';

/** One message read from a line, with the line's number (1-based) for progress and errors. */
export interface NdjsonMessage {
  readonly line: number;
  readonly message: PushMessage;
}

/** What a text holds: every message when all lines are good, else every bad line's problem. */
export type NdjsonResult =
  | { readonly ok: true; readonly messages: readonly NdjsonMessage[] }
  | { readonly ok: false; readonly problems: readonly string[] };

/** Length of the ids the publisher generates (UUIDs), to size a message that has no id yet. */
const GENERATED_ID_LENGTH = 36;

/**
 * Parses NDJSON into messages: each non-blank line one envelope v1 (`v` may be left out; when
 * given it must be 1). `data` is kept as the line's exact text (a {@link JsonText}), so an 18-digit
 * integer keeps its digits. A line without `id` gets one when it is published. Problems read
 * `line N: reason`, one per bad line, in order.
 */
export function parseNdjson(text: string): NdjsonResult {
  const messages: NdjsonMessage[] = [];
  const problems: string[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const number = index + 1;
    const read = parseLine(line);
    if (typeof read === 'string') problems.push(`line ${number}: ${read}`);
    else messages.push({ line: number, message: read });
  });
  return problems.length > 0 ? { ok: false, problems } : { ok: true, messages };
}

/** The message on one line, or why the line is refused. */
function parseLine(line: string): PushMessage | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    return `not JSON (${(error as Error).message})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return 'not a JSON object (one envelope per line)';
  }
  const fields: Record<string, unknown> = { v: 1, ...(value as Record<string, unknown>) };
  try {
    // Long recipient lists are checked as the publisher will send them: in envelopes of at most
    // MAX_USERS_PER_ENVELOPE users, repeated ids once.
    const to = fields.to as { users?: unknown } | undefined;
    const users = Array.isArray(to?.users) ? [...new Set(to.users)] : undefined;
    const parts: Record<string, unknown>[] = [];
    if (users !== undefined && users.length > 0) {
      for (let i = 0; i < users.length; i += MAX_USERS_PER_ENVELOPE)
        parts.push({ ...fields, to: { ...to, users: users.slice(i, i + MAX_USERS_PER_ENVELOPE) } });
    } else {
      parts.push(fields);
    }
    const [checked] = parts.map((part, index) => checkPart(part, index * MAX_USERS_PER_ENVELOPE));
    const { v: _v, data: _data, ...envelope } = checked as Envelope;
    // checkEnvelope requires `data`, and the line is valid JSON: the member is there.
    const dataJson = memberText(line, 'data') ?? 'null';
    const tooLarge = envelopeSizeProblem(
      checked as Envelope,
      envelope.id ?? 'x'.repeat(GENERATED_ID_LENGTH),
      dataJson,
    );
    if (tooLarge !== undefined) return tooLarge;
    const message: PushMessage = {
      ...envelope,
      ...(users !== undefined ? { to: { users: users as string[] } } : {}),
      data: new JsonText(dataJson),
    };
    return message;
  } catch (error) {
    if (error instanceof InvalidEnvelopeError) return error.reason;
    throw error;
  }
}

/** Checks one envelope of a split list; a user's position in a reason counts from the whole list. */
function checkPart(fields: Record<string, unknown>, offset: number): Envelope {
  try {
    return checkEnvelope(fields);
  } catch (error) {
    if (!(error instanceof InvalidEnvelopeError) || offset === 0) throw error;
    const reason = error.reason.replace(
      /\bto\.users\.(\d+)/g,
      (_all, at: string) => `to.users.${Number(at) + offset}`,
    );
    throw new InvalidEnvelopeError(reason);
  }
}
