import { z } from 'zod';
import { preferencesChangeSchema } from '../shared/envelope.ts';
import { InvalidFrameError } from '../shared/errors.ts';
import { APPLE_TOKEN_PATTERN, MAX_PUSH_TOKEN_LENGTH, PUSH_PLATFORMS } from '../shared/mobile-push.ts';
import { MAX_ACK_IDS, MAX_SEND_ID_LENGTH } from '../shared/protocol.ts';
import { SERVICE_NAME_PATTERN, topicNameProblem } from '../shared/topics.ts';
import { MAX_RECENT } from './inbox.ts';

const seq = z.string().min(1).max(64);
const topic = z.string().superRefine((name, context) => {
  const problem = topicNameProblem(name);
  if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
});

const serviceName = z
  .string()
  .regex(SERVICE_NAME_PATTERN, { error: 'a service name is 1 to 64 letters, digits and . _ -' });

const schemas = {
  ping: z.object({ action: z.literal('ping'), id: z.string().max(128).optional() }),
  resume: z
    .object({
      action: z.literal('resume'),
      after: z.string().min(1).max(64).optional(),
      from: z.string().min(1).max(64).optional(),
      limit: z.number().int().min(1).max(MAX_RECENT).optional(),
      broadcastAfter: seq.optional(),
    })
    .refine((frame) => frame.after === undefined || frame.from === undefined, {
      error: 'give after (the last seq seen) or from (the next the server named), not both',
    }),
  subscribe: z
    .object({ action: z.literal('subscribe'), topic, after: seq.optional(), from: seq.optional() })
    .refine((frame) => frame.after === undefined || frame.from === undefined, {
      error: 'give after (the last seq seen) or from (the next the server named), not both',
    }),
  unsubscribe: z.object({ action: z.literal('unsubscribe'), topic }),
  ack: z
    .object({
      action: z.literal('ack'),
      ids: z.array(z.string().min(1).max(128)).min(1).max(MAX_ACK_IDS).optional(),
      all: z.literal(true).optional(),
      source: z.string().min(1).max(128).optional(),
    })
    .refine((frame) => (frame.ids === undefined) !== (frame.all === undefined), {
      error: 'give either ids (the messages to mark read) or all: true',
    })
    .refine((frame) => frame.source === undefined || frame.all === true, {
      error: 'source goes with all: true',
    }),
  send: z.object({
    action: z.literal('send'),
    id: z
      .string({ error: 'id is required: your id for the message (its idempotency key)' })
      .min(1)
      .max(MAX_SEND_ID_LENGTH)
      .regex(/^[A-Za-z0-9._:-]+$/, { error: 'id may contain only letters, digits and . _ : -' }),
    to: z.union(
      [
        z.object({ user: z.string().min(1).max(256) }).strict(),
        z.object({ topic }).strict(),
        z.object({ service: serviceName }).strict(),
      ],
      { error: 'to must be { user: id }, { topic: name } or { service: name }' },
    ),
    type: z.string({ error: 'type is required' }).min(1).max(128),
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
        .min(1)
        .max(MAX_PUSH_TOKEN_LENGTH),
    })
    .refine((frame) => frame.platform === 'GCM' || APPLE_TOKEN_PATTERN.test(frame.token), {
      error: 'an APNs token is at most 400 hexadecimal characters',
      path: ['token'],
    }),
  unregister: z.object({
    action: z.literal('unregister'),
    token: z.string({ error: 'token is required' }).min(1).max(MAX_PUSH_TOKEN_LENGTH),
  }),
  history: z.object({
    action: z.literal('history'),
    id: z.string().max(128).optional(),
    before: z.string().min(1).max(64).optional(),
    source: z.string().min(1).max(128).optional(),
    limit: z.number().int().min(1).max(MAX_RECENT).optional(),
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
