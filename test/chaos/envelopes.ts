/**
 * Generated envelopes published to the SNS topic: valid ones to connected users, and bad ones
 * (not JSON, wrong fields, too large to post). Every valid envelope must reach each addressed
 * user's connection exactly once and nobody else's; every bad one must be kept in the rejected
 * queue with a reason, and reach nobody. Nothing may be dropped: delivered + kept = published.
 */
import { PublishCommand } from '@aws-sdk/client-sns';
import fc from 'fast-check';
import { mapBounded } from '../../functions/domain/fan-out.ts';
import { MAX_USERS_PER_ENVELOPE } from '../../functions/shared/envelope.ts';
import type { Target } from '../support/target.ts';
import type { TestSocket } from '../support/ws-client.ts';
import { drainQueue, preview, progressPrinter, SectionRecorder, type SectionReport } from './report.ts';

/** The stable codes of the rejected queue's `code` attribute. */
const REJECTION_CODES = new Set(['NOT_JSON', 'INVALID_FIELDS', 'TOO_LARGE', 'NOT_ALLOWED']);

/** A body to publish; `users` is set for a valid envelope (whom it must reach), absent for a bad one. */
export interface GeneratedEnvelope {
  readonly body: string;
  readonly key: string;
  readonly users?: readonly number[];
}

/**
 * A name of at most `max` UTF-16 units (what the schema counts): any code point, controls and
 * astral ones included, at most two units each.
 */
const name = (max: number) => fc.string({ minLength: 1, maxLength: Math.floor(max / 2), unit: 'binary' });

/** A valid envelope to some of `userCount` users (by index), carrying `key` in its data. */
function validEnvelope(userCount: number) {
  return fc
    .record(
      {
        users: fc.uniqueArray(fc.integer({ min: 0, max: userCount - 1 }), {
          minLength: 1,
          maxLength: Math.min(5, userCount),
        }),
        type: name(128),
        source: name(128),
        from: name(256),
        persist: fc.boolean(),
        ttl: fc.integer({ min: 60, max: 365 * 24 * 3600 }),
        payload: fc.oneof(
          { arbitrary: fc.jsonValue({ maxDepth: 3 }), weight: 8 },
          // Large but postable: up to about 100 KB.
          { arbitrary: fc.integer({ min: 10_000, max: 100_000 }).map((n) => 'L'.repeat(n)), weight: 1 },
        ),
      },
      { requiredKeys: ['users', 'type', 'payload'] },
    )
    .map((fields) => ({ fields, users: fields.users }));
}

/** Ways to spoil a valid envelope, each one a refusal. */
const SPOILERS: readonly ((envelope: Record<string, unknown>) => unknown)[] = [
  (e) => ({ ...e, v: 2 }),
  (e) => ({ ...e, v: undefined }),
  (e) => ({ ...e, data: undefined }),
  (e) => ({ ...e, type: '' }),
  (e) => ({ ...e, type: 't'.repeat(129) }),
  (e) => ({ ...e, to: { users: [] } }),
  (e) => ({ ...e, to: { users: Array.from({ length: MAX_USERS_PER_ENVELOPE + 1 }, (_, i) => `u${i}`) } }),
  (e) => ({ ...e, to: { users: ['a'], topic: 'news' } }),
  (e) => ({ ...e, to: { topic: 'a#b' } }),
  (e) => ({ ...e, to: 'everyone' }),
  (e) => ({ ...e, id: 'spaces are not allowed' }),
  (e) => ({ ...e, ttl: 10 }),
  (e) => ({ ...e, persist: 'yes' }),
  (e) => ({ ...e, unknownField: true }),
  // Too large to post to a connection (API Gateway's 128 KB), though SNS takes it.
  (e) => ({ ...e, data: 'X'.repeat(140_000) }),
];

function badEnvelope(userCount: number) {
  return fc.oneof(
    fc
      .tuple(validEnvelope(userCount), fc.integer({ min: 0, max: SPOILERS.length - 1 }))
      .map(([valid, spoiler]) => ({ kind: 'spoiled' as const, valid, spoiler })),
    fc.jsonValue({ maxDepth: 3 }).map((value) => ({ kind: 'json' as const, value })),
    fc
      .string({ minLength: 1, maxLength: 500, unit: 'binary' })
      .map((text) => ({ kind: 'text' as const, text })),
  );
}

export interface EnvelopeOptions {
  readonly envelopes: number;
  readonly users: number;
  readonly seed: number;
  /** Publishes in flight. @default 16 */
  readonly concurrency?: number;
  /** Longest wait, after the last publish, for deliveries and rejections. @default 120000 */
  readonly settleTimeoutMs?: number;
}

/** Publishes `envelopes` generated envelopes (about 60 % valid) to `users` connected users. */
export async function runEnvelopes(target: Target, options: EnvelopeOptions): Promise<SectionReport> {
  const recorder = new SectionRecorder(
    'envelopes',
    `${options.envelopes.toLocaleString('en-US')} generated envelopes (about 60 % valid, to 1 to 5 of ${options.users} connected users; 40 % bad: spoiled fields, any JSON, any text, too large to post), seed ${options.seed}`,
  );
  const progress = progressPrinter('envelopes');
  const run = `chaos-env-${options.seed}-${Date.now().toString(36)}`;
  const userIds = Array.from({ length: options.users }, (_, i) => `${run}-u${i}`);
  const generated = fc
    .sample(
      fc.oneof(
        { arbitrary: validEnvelope(options.users), weight: 3 },
        { arbitrary: badEnvelope(options.users), weight: 2 },
      ),
      { numRuns: options.envelopes, seed: options.seed },
    )
    .map((sample, i): GeneratedEnvelope => toBody(sample, `${run}-k${i}`, userIds));

  const sockets = await Promise.all(userIds.map((userId) => target.connect(userId)));
  await drainRejected(target, () => {}); // Earlier runs' rejections are not this run's.

  const snsIdOfBad = new Map<string, string>(); // SNS message id → key
  let published = 0;
  await mapBounded(
    generated,
    async (envelope) => {
      try {
        const answer = await target.sns.send(
          new PublishCommand({ TopicArn: target.outputs.TopicArn, Message: envelope.body }),
        );
        if (envelope.users === undefined) snsIdOfBad.set(answer.MessageId ?? '', envelope.key);
        recorder.count(envelope.users === undefined ? 'published bad' : 'published valid');
      } catch (error) {
        // SNS itself refusing (e.g. an empty message) is a typed refusal too; it loses nothing.
        recorder.count(`refused by SNS: ${(error as Error).name}`);
        if (envelope.users !== undefined)
          recorder.fail(`SNS refused a valid envelope: ${(error as Error).message}`);
      }
      progress(`${++published} of ${generated.length} published`);
    },
    options.concurrency ?? 16,
  );

  const expected = generated.flatMap((envelope) =>
    (envelope.users ?? []).map((user) => `${user}/${envelope.key}`),
  );
  const received = (): Map<string, number> => deliveries(sockets);
  const kept = new Map<string, string>(); // key → reason
  const onKept = (snsMessageId: string, reason: string, code: string) => {
    const key = snsIdOfBad.get(snsMessageId);
    if (key === undefined) return;
    kept.set(key, reason);
    recorder.count(`kept ${code || '(no code)'}`);
    if (!REJECTION_CODES.has(code)) recorder.fail(`bad envelope ${key} kept with code "${code}": ${reason}`);
  };
  const deadline = Date.now() + (options.settleTimeoutMs ?? 120_000);
  for (;;) {
    await drainRejected(target, onKept, deadline);
    const got = received();
    const arrived = expected.filter((delivery) => got.has(delivery)).length;
    progress(
      `${arrived} of ${expected.length} deliveries, ${kept.size} of ${snsIdOfBad.size} rejections kept`,
    );
    if ((arrived === expected.length && kept.size >= snsIdOfBad.size) || Date.now() > deadline) break;
  }

  const got = received();
  const expectedSet = new Set(expected);
  let delivered = 0;
  for (const delivery of expected) {
    const times = got.get(delivery) ?? 0;
    if (times === 0) recorder.fail(`valid envelope not delivered: ${delivery}`);
    if (times > 1) recorder.fail(`delivered ${times} times: ${delivery}`);
    if (times >= 1) delivered++;
  }
  for (const delivery of got.keys())
    if (!expectedSet.has(delivery)) recorder.fail(`delivered where it was not addressed: ${delivery}`);
  for (const [snsMessageId, key] of snsIdOfBad) {
    const reason = kept.get(key);
    const body = generated.find((envelope) => envelope.key === key)?.body ?? '';
    if (reason === undefined)
      recorder.fail(`bad envelope ${key} (${snsMessageId}) not kept in the rejected queue: ${preview(body)}`);
    else if (reason.trim() === '') recorder.fail(`bad envelope ${key} kept without a reason`);
  }
  recorder.count('deliveries expected', expected.length);
  recorder.count('deliveries made, exactly once', delivered);
  recorder.count('bad envelopes kept with a reason', kept.size);
  recorder.count(
    'lost (neither delivered nor kept)',
    expected.length - delivered + snsIdOfBad.size - kept.size,
  );
  await Promise.all(sockets.map((socket) => socket.close()));
  return recorder.report();
}

/** `count` envelopes to `userIds` from `seed`, keyed `{run}-k{index}`: the same seed, the same bodies. */
export function generateEnvelopes(
  count: number,
  userIds: readonly string[],
  seed: number,
  run: string,
): GeneratedEnvelope[] {
  return fc
    .sample(
      fc.oneof(
        { arbitrary: validEnvelope(userIds.length), weight: 3 },
        { arbitrary: badEnvelope(userIds.length), weight: 2 },
      ),
      { numRuns: count, seed },
    )
    .map((sample, i) => toBody(sample, `${run}-k${i}`, userIds));
}

function toBody(
  sample:
    | { fields: Record<string, unknown> & { users: number[]; payload: unknown }; users: number[] }
    | {
        kind: 'spoiled';
        valid: { fields: Record<string, unknown> & { users: number[]; payload: unknown } };
        spoiler: number;
      }
    | { kind: 'json'; value: unknown }
    | { kind: 'text'; text: string },
  key: string,
  userIds: readonly string[],
): GeneratedEnvelope {
  const envelopeOf = (fields: Record<string, unknown> & { users: number[]; payload: unknown }) => {
    const { users, payload, ...rest } = fields;
    return { v: 1, ...rest, id: key, to: { users: users.map((i) => userIds[i]) }, data: { key, payload } };
  };
  if ('fields' in sample)
    return { body: JSON.stringify(envelopeOf(sample.fields)), key, users: sample.users };
  if (sample.kind === 'spoiled') {
    const spoiled = (SPOILERS[sample.spoiler] as (e: Record<string, unknown>) => unknown)(
      envelopeOf(sample.valid.fields),
    );
    return { body: JSON.stringify(spoiled), key };
  }
  if (sample.kind === 'json') return { body: JSON.stringify(sample.value), key };
  return { body: sample.text, key };
}

/** How many times each `userIndex/key` arrived, over every socket (socket i is user i). */
function deliveries(sockets: readonly TestSocket[]): Map<string, number> {
  const counts = new Map<string, number>();
  sockets.forEach((socket, user) => {
    for (const frame of socket.messages()) {
      const key = (frame.data as { key?: unknown } | undefined)?.key;
      if (typeof key !== 'string') continue;
      const delivery = `${user}/${key}`;
      counts.set(delivery, (counts.get(delivery) ?? 0) + 1);
    }
  });
  return counts;
}

/** Reads and deletes every message of the rejected queue, until it answers empty (or the deadline). */
function drainRejected(
  target: Target,
  onKept: (snsMessageId: string, reason: string, code: string) => void,
  deadline?: number,
): Promise<void> {
  return drainQueue(
    target.sqs,
    target.outputs.RejectedQueueUrl,
    ({ MessageAttributes: attributes }) =>
      onKept(
        attributes?.snsMessageId?.StringValue ?? '',
        attributes?.reason?.StringValue ?? '',
        attributes?.code?.StringValue ?? '',
      ),
    deadline,
  );
}
