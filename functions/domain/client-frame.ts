import * as z from 'zod/mini';
import { preferencesChangeSchema } from '../shared/envelope.ts';
import { InvalidFrameError } from '../shared/errors.ts';
import { APPLE_TOKEN_PATTERN, MAX_PUSH_TOKEN_LENGTH, PUSH_PLATFORMS } from '../shared/mobile-push.ts';
import { MAX_ACK_IDS, MAX_SEND_ID_LENGTH } from '../shared/protocol.ts';
import '../shared/schema-messages.ts'; // Zod's English messages
import { SERVICE_NAME_PATTERN, topicNameProblem } from '../shared/topics.ts';
import { MAX_RECENT } from './inbox.ts';

/** A string of `min` to `max` characters. */
const text = (min: number, max: number) => z.string().check(z.minLength(min), z.maxLength(max));

const seq = text(1, 64);
const topic = z.string().check(
  z.superRefine((name, context) => {
    const problem = topicNameProblem(name);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
  }),
);

const serviceName = z
  .string()
  .check(z.regex(SERVICE_NAME_PATTERN, { error: 'a service name is 1 to 64 letters, digits and . _ -' }));

/** Refuses a frame that gives both `after` and `from`. */
const afterOrFrom = <T extends { after?: string | undefined; from?: string | undefined }>() =>
  z.refine<T>((frame) => frame.after === undefined || frame.from === undefined, {
    error: 'give after (the last seq seen) or from (the next the server named), not both',
  });

const schemas = {
  ping: z.object({ action: z.literal('ping'), id: z.optional(text(0, 128)) }),
  resume: z
    .object({
      action: z.literal('resume'),
      after: z.optional(text(1, 64)),
      from: z.optional(text(1, 64)),
      limit: z.optional(z.int().check(z.minimum(1), z.maximum(MAX_RECENT))),
      broadcastAfter: z.optional(seq),
    })
    .check(afterOrFrom()),
  subscribe: z
    .object({ action: z.literal('subscribe'), topic, after: z.optional(seq), from: z.optional(seq) })
    .check(afterOrFrom()),
  unsubscribe: z.object({ action: z.literal('unsubscribe'), topic }),
  ack: z
    .object({
      action: z.literal('ack'),
      ids: z.optional(z.array(text(1, 128)).check(z.minLength(1), z.maxLength(MAX_ACK_IDS))),
      all: z.optional(z.literal(true)),
      source: z.optional(text(1, 128)),
    })
    .check(
      z.refine((frame) => (frame.ids === undefined) !== (frame.all === undefined), {
        error: 'give either ids (the messages to mark read) or all: true',
      }),
      z.refine((frame) => frame.source === undefined || frame.all === true, {
        error: 'source goes with all: true',
      }),
    ),
  send: z.object({
    action: z.literal('send'),
    id: z
      .string({ error: 'id is required: your id for the message (its idempotency key)' })
      .check(
        z.minLength(1),
        z.maxLength(MAX_SEND_ID_LENGTH),
        z.regex(/^[A-Za-z0-9._:-]+$/, { error: 'id may contain only letters, digits and . _ : -' }),
      ),
    to: z.union(
      [
        z.strictObject({ user: text(1, 256) }),
        z.strictObject({ topic }),
        z.strictObject({ service: serviceName }),
      ],
      { error: 'to must be { user: id }, { topic: name } or { service: name }' },
    ),
    type: z.string({ error: 'type is required' }).check(z.minLength(1), z.maxLength(128)),
    data: z.custom<unknown>((value) => value !== undefined, {
      error: 'data is required (use null for no payload)',
    }),
  }),
  prefs: z.object({ action: z.literal('prefs'), ...preferencesChangeSchema }),
  register: z
    .object({
      action: z.literal('register'),
      platform: z.enum(PUSH_PLATFORMS, { error: `platform must be one of ${PUSH_PLATFORMS.join(', ')}` }),
      token: z
        .string({ error: 'token is required (the device token the platform gave)' })
        .check(z.minLength(1), z.maxLength(MAX_PUSH_TOKEN_LENGTH)),
    })
    .check(
      z.refine((frame) => frame.platform === 'GCM' || APPLE_TOKEN_PATTERN.test(frame.token), {
        error: 'an APNs token is at most 400 hexadecimal characters',
        path: ['token'],
      }),
    ),
  unregister: z.object({
    action: z.literal('unregister'),
    token: z.string({ error: 'token is required' }).check(z.minLength(1), z.maxLength(MAX_PUSH_TOKEN_LENGTH)),
  }),
  history: z.object({
    action: z.literal('history'),
    id: z.optional(text(0, 128)),
    before: z.optional(text(1, 64)),
    source: z.optional(text(1, 128)),
    limit: z.optional(z.int().check(z.minimum(1), z.maximum(MAX_RECENT))),
  }),
} as const;

/** A validated client frame of an action this version serves. */
export type ServedFrame = { [K in keyof typeof schemas]: z.infer<(typeof schemas)[K]> }[keyof typeof schemas];

/**
 * Parses one client frame. Throws InvalidFrameError: BAD_FRAME for non-JSON or no action,
 * UNKNOWN_ACTION, INVALID_REQUEST for bad fields.
 */
export function parseClientFrame(body: string | null | undefined): ServedFrame {
  let json: unknown;
  try {
    json = JSON.parse(body ?? '');
  } catch {
    throw new InvalidFrameError('BAD_FRAME', 'Frames must be JSON objects with an "action" field.');
  }
  const action =
    typeof json === 'object' && json !== null ? (json as { action?: unknown }).action : undefined;
  if (typeof action !== 'string') {
    throw new InvalidFrameError('BAD_FRAME', 'Frames must be JSON objects with an "action" field.');
  }
  if (!Object.hasOwn(schemas, action)) {
    throw new InvalidFrameError(
      'UNKNOWN_ACTION',
      `Unknown action "${action.slice(0, 64)}"; known actions: ${Object.keys(schemas).join(', ')}.`,
      action.slice(0, 64),
    );
  }
  const result = schemas[action as keyof typeof schemas].safeParse(json);
  if (!result.success) {
    const reasons = result.error.issues.map(
      (issue) => `${issue.path.join('.') || 'frame'}: ${issue.message}`,
    );
    throw new InvalidFrameError('INVALID_REQUEST', reasons.join('; '), action);
  }
  return result.data as ServedFrame;
}
