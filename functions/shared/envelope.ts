import * as z from 'zod/mini';
import { InvalidEnvelopeError } from './errors.ts';
import { memberText } from './json-text.ts';
import { frameSizeProblem } from './message-frame.ts';
import { APPLE_TOKEN_PATTERN, MAX_PUSH_TOKEN_LENGTH, PUSH_PLATFORMS } from './mobile-push.ts';
import { MAX_PREFERENCE_NAMES } from './preferences.ts';
import './schema-messages.ts'; // Zod's English messages
import { topicNameProblem } from './topics.ts';

/** Most user ids one envelope may address; publishers split longer lists (the publisher library does). */
export const MAX_USERS_PER_ENVELOPE = 100;

/** Retention of stored messages when the envelope gives no `ttl`: 30 days. */
export const DEFAULT_RETENTION_SECONDS = 30 * 24 * 60 * 60;

/** Longest retention an envelope may ask for: 365 days. */
export const MAX_RETENTION_SECONDS = 365 * 24 * 60 * 60;

const name = (what: string, max: number) =>
  z
    .string({ error: `${what} must be a string` })
    .check(
      z.minLength(1, { error: `${what} must not be empty` }),
      z.maxLength(max, { error: `${what} must be at most ${max} characters` }),
    );

const userId = name('a user id', 256);

const userList = z.array(userId).check(z.minLength(1), z.maxLength(MAX_USERS_PER_ENVELOPE));

const envelopeId = z.optional(
  name('id', 128).check(
    z.regex(/^[A-Za-z0-9._:-]+$/, { error: 'id may contain only letters, digits and . _ : -' }),
  ),
);

const recipients = z.union(
  [
    z.strictObject({ users: userList }),
    z.strictObject({
      topic: z.string().check(
        z.superRefine((topic, context) => {
          const problem = topicNameProblem(topic);
          if (problem !== undefined) context.addIssue({ code: 'custom', message: problem });
        }),
      ),
    }),
    z.strictObject({ all: z.literal(true) }),
  ],
  { error: 'to must be exactly one of { users: [ids] }, { topic: name } or { all: true }' },
);

/** Envelope v1 as services publish it to the SNS topic. */
export const envelopeSchema = z.strictObject({
  v: z.literal(1, { error: 'v must be 1 (the only envelope version)' }),
  id: envelopeId,
  to: recipients,
  type: name('type', 128),
  source: z.optional(name('source', 128)),
  from: z.optional(name('from', 256)),
  data: z.custom<unknown>((value) => value !== undefined, {
    error: 'data is required (use null for no payload)',
  }),
  persist: z.optional(z.boolean()),
  ttl: z.optional(z.int().check(z.minimum(60), z.maximum(MAX_RETENTION_SECONDS))),
});

const preferenceNames = z.strictObject({
  types: z.optional(z.array(name('a type', 128)).check(z.maxLength(MAX_PREFERENCE_NAMES))),
  sources: z.optional(z.array(name('a source', 128)).check(z.maxLength(MAX_PREFERENCE_NAMES))),
});

/** The `mute` and `unmute` of a preferences change, as client frames and control envelopes carry them. */
export const preferencesChangeSchema = {
  mute: z.optional(preferenceNames),
  unmute: z.optional(preferenceNames),
};

const controlFields = {
  v: z.literal(1, { error: 'v must be 1 (the only envelope version)' }),
  id: envelopeId,
  to: z.strictObject({ users: userList }),
};

/** The one user a device registration is for. */
const oneUser = z.strictObject({
  users: z.array(userId).check(z.length(1, { error: 'a device is registered for exactly one user' })),
});
const pushToken = name('token', MAX_PUSH_TOKEN_LENGTH);

/**
 * A control envelope: instead of a message, an order for some users. `disconnect` (logout, ban)
 * sends their connections a `disconnect` frame and closes them; `prefs` changes their preferences
 * (what they mute) and tells their devices; `register-device` and `unregister-device` add or remove
 * a mobile push token of one user (domain/mobile-push.ts), as the client's `register` frame does.
 */
export const controlEnvelopeSchema = z.discriminatedUnion(
  'control',
  [
    z.strictObject({
      ...controlFields,
      control: z.literal('disconnect'),
      reason: z.optional(name('reason', 256)),
    }),
    z.strictObject({ ...controlFields, control: z.literal('prefs'), ...preferencesChangeSchema }),
    z
      .strictObject({
        ...controlFields,
        to: oneUser,
        control: z.literal('register-device'),
        platform: z.enum(PUSH_PLATFORMS, { error: `platform must be one of ${PUSH_PLATFORMS.join(', ')}` }),
        token: pushToken,
      })
      .check(
        z.refine((order) => order.platform === 'GCM' || APPLE_TOKEN_PATTERN.test(order.token), {
          error: 'an APNs token is at most 400 hexadecimal characters',
          path: ['token'],
        }),
      ),
    z.strictObject({
      ...controlFields,
      to: oneUser,
      control: z.literal('unregister-device'),
      token: pushToken,
    }),
  ],
  { error: 'control must be "disconnect", "prefs", "register-device" or "unregister-device"' },
);

/** A validated control envelope. */
export type ControlEnvelope = z.infer<typeof controlEnvelopeSchema>;

/** A validated envelope. */
export type Envelope = z.infer<typeof envelopeSchema>;

/** The recipients of an envelope, as one of its three shapes. */
export type Recipients = Envelope['to'];

/** A validated envelope with its `data` as the exact JSON text the publisher sent. */
export interface ParsedEnvelope {
  readonly envelope: Envelope;
  /** `data` byte for byte as published (an 18-digit integer keeps its digits); never re-serialized. */
  readonly dataJson: string;
}

/**
 * Parses an SNS message body into an envelope.
 * Throws InvalidEnvelopeError with a reason a publisher can act on.
 */
export function parseEnvelope(body: string): ParsedEnvelope {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new InvalidEnvelopeError('message body is not JSON', 'NOT_JSON');
  }
  const envelope = checkEnvelope(json);
  // checkEnvelope requires `data`, so the member is there.
  return { envelope, dataJson: memberText(body, 'data') ?? 'null' };
}

/** What an SNS message body holds: a message to deliver, or a control order. */
export type Published =
  | ({ readonly kind: 'message' } & ParsedEnvelope)
  | { readonly kind: 'control'; readonly control: ControlEnvelope };

/** Parses an SNS message body that may be a message or a control envelope (it has `control`). */
export function parsePublished(body: string): Published {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new InvalidEnvelopeError('message body is not JSON', 'NOT_JSON');
  }
  if (typeof json === 'object' && json !== null && 'control' in json) {
    return { kind: 'control', control: checkControlEnvelope(json) };
  }
  return { kind: 'message', ...parseEnvelope(body) };
}

/** Validates a control envelope; throws InvalidEnvelopeError naming each field that is wrong. */
export function checkControlEnvelope(value: unknown): ControlEnvelope {
  return checked(controlEnvelopeSchema, value);
}

/** Validates a value as an envelope; throws InvalidEnvelopeError naming each field that is wrong. */
export function checkEnvelope(value: unknown): Envelope {
  return checked(envelopeSchema, value);
}

function checked<T>(schema: z.ZodMiniType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) {
    const reasons = result.error.issues.map((issue) => {
      const path = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      return `${path}${issue.message}`;
    });
    throw new InvalidEnvelopeError(reasons.join('; '));
  }
  return result.data;
}

/**
 * The reason an envelope's message would not fit API Gateway's 128 KB once posted, or undefined.
 * It counts what the deliver function adds to the frame (`seq`, `ts`, `topic` or `broadcast`).
 */
export function envelopeSizeProblem(envelope: Envelope, id: string, dataJson: string): string | undefined {
  const { to } = envelope;
  return frameSizeProblem({
    id,
    type: envelope.type,
    source: envelope.source,
    from: envelope.from,
    dataJson,
    ...('topic' in to ? { topic: to.topic } : 'all' in to ? { broadcast: true } : {}),
  });
}
