/**
 * Generated client frames over real WebSocket connections: valid frames, garbage, and valid frames
 * bent out of shape. Every frame must get an answer: a valid one its answer kind, a bad one an
 * `error` frame whose code is one of the stable codes (never INTERNAL, never API Gateway's
 * "Internal server error"), and no connection may be closed by it.
 */
import fc from 'fast-check';
import { mapBounded } from '../../functions/domain/fan-out.ts';
import { ERROR_CODES } from '../../functions/shared/protocol.ts';
import type { Target } from '../support/target.ts';
import type { Frame, TestSocket } from '../support/ws-client.ts';
import { preview, progressPrinter, SectionRecorder, type SectionReport } from './report.ts';

/** A frame to send and what must come back. */
interface GeneratedFrame {
  readonly text: string;
  /** An answer kind, `refusal` (a typed error), or `answer` (either: a bent valid frame). */
  readonly expect: string;
}

/** Frames the server answers with a frame of their own; pushes (messages, unread) are not answers. */
const ANSWER_KINDS = new Set([
  'pong',
  'history',
  'prefs',
  'subscribed',
  'unsubscribed',
  'read',
  'sent',
  'registered',
  'unregistered',
  'error',
]);
const STABLE_CODES = new Set<string>(Object.values(ERROR_CODES).filter((code) => code !== 'INTERNAL'));
/** Topics the connections may use (the token grants `chaos.*`); few, so no socket holds 100. */
const TOPICS = ['chaos.a', 'chaos.b', 'chaos.c', 'chaos.d', 'chaos.e'];
/** Actions whose answer is one frame (resume answers several, posted: left out). */
const ONE_ANSWER_ACTIONS = [
  'ping',
  'ack',
  'history',
  'subscribe',
  'unsubscribe',
  'prefs',
  'send',
  'register',
];

const json = (value: unknown) => JSON.stringify(value);

/** Valid frames and the kind of frame that answers each. */
const validFrame: fc.Arbitrary<GeneratedFrame> = fc.oneof(
  fc
    .record({ id: fc.string({ maxLength: 128 }) }, { requiredKeys: [] })
    .map((f) => ({ text: json({ action: 'ping', ...f }), expect: 'pong' })),
  fc
    .record(
      { limit: fc.integer({ min: 1, max: 100 }), id: fc.string({ maxLength: 128 }) },
      { requiredKeys: [] },
    )
    .map((f) => ({ text: json({ action: 'history', ...f }), expect: 'history' })),
  fc.constant({ text: json({ action: 'prefs' }), expect: 'prefs' }),
  fc
    .constantFrom(...TOPICS)
    .map((topic) => ({ text: json({ action: 'subscribe', topic }), expect: 'subscribed' })),
  fc
    .constantFrom(...TOPICS)
    .map((topic) => ({ text: json({ action: 'unsubscribe', topic }), expect: 'unsubscribed' })),
  fc
    .array(fc.stringMatching(/^[0-9a-z]{1,40}$/), { minLength: 1, maxLength: 100 })
    .map((ids) => ({ text: json({ action: 'ack', ids }), expect: 'read' })),
);

/** Frames no server may accept: not JSON, not an object, no action, an unknown action, wrong fields. */
const badFrame: fc.Arbitrary<GeneratedFrame> = fc
  .oneof(
    fc.string({ minLength: 1, maxLength: 2_000, unit: 'binary' }).filter(isNotAnActionObject),
    fc.jsonValue({ maxDepth: 4 }).map(json).filter(isNotAnActionObject),
    fc
      .record({ action: fc.string({ minLength: 1, maxLength: 200 }), extra: fc.jsonValue({ maxDepth: 2 }) })
      .filter(
        (f) => !ONE_ANSWER_ACTIONS.includes(f.action) && f.action !== 'resume' && f.action !== 'unregister',
      )
      .map(json),
    fc
      .record({ action: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string())) })
      .map(json),
    // Known actions with fields of the wrong type or size.
    fc
      .oneof(
        fc.record({ action: fc.constant('ping'), id: fc.oneof(fc.integer(), fc.string({ minLength: 129 })) }),
        fc.record({
          action: fc.constant('history'),
          limit: fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 101 })),
        }),
        fc.record({
          action: fc.constant('ack'),
          ids: fc.oneof(fc.constant([]), fc.string(), fc.array(fc.integer(), { minLength: 1 })),
        }),
        fc.record({
          action: fc.constant('subscribe'),
          topic: fc.oneof(fc.constant(''), fc.string({ minLength: 129 }), fc.constant('a#b'), fc.integer()),
        }),
        fc.record({
          action: fc.constant('send'),
          to: fc.jsonValue({ maxDepth: 2 }),
          type: fc.jsonValue({ maxDepth: 1 }),
          id: fc.string({ maxLength: 80 }),
        }),
        fc.record({
          action: fc.constant('prefs'),
          mute: fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer(), { minLength: 1 })),
        }),
      )
      .map(json),
  )
  .map((text) => ({ text, expect: 'refusal' }));

/** Valid frames with random fields added or replaced: any answer will do, as long as it is typed. */
const bentFrame: fc.Arbitrary<GeneratedFrame> = fc
  .record({
    action: fc.constantFrom(...ONE_ANSWER_ACTIONS),
    fields: fc.dictionary(
      fc.constantFrom(
        'id',
        'ids',
        'topic',
        'limit',
        'before',
        'source',
        'to',
        'type',
        'data',
        'all',
        'mute',
        'platform',
        'token',
        'zzz',
      ),
      fc.jsonValue({ maxDepth: 2 }),
      { maxKeys: 4 },
    ),
  })
  .map(({ action, fields }) => ({
    // `to` a user would deliver to someone: keep sends addressed to a service nobody subscribes to.
    text: json({ ...fields, action, ...(action === 'send' ? { to: { service: 'chaos-nobody' } } : {}) }),
    expect: 'answer',
  }));

function isNotAnActionObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return (
      typeof value !== 'object' ||
      value === null ||
      typeof (value as { action?: unknown }).action !== 'string'
    );
  } catch {
    return true;
  }
}

export interface FrameOptions {
  readonly frames: number;
  readonly connections: number;
  readonly seed: number;
  /** Longest wait for one answer. */
  readonly answerTimeoutMs?: number;
}

/** Sends `frames` generated frames over `connections` sockets, one frame at a time per socket. */
export async function runFrames(target: Target, options: FrameOptions): Promise<SectionReport> {
  const recorder = new SectionRecorder(
    'client frames',
    `${options.frames.toLocaleString('en-US')} generated frames (about 30 % valid, 50 % bad, 20 % valid ones bent) over ${options.connections} connections, seed ${options.seed}`,
  );
  const progress = progressPrinter('frames');
  const frames = fc.sample(
    fc.oneof(
      { arbitrary: validFrame, weight: 3 },
      { arbitrary: badFrame, weight: 5 },
      { arbitrary: bentFrame, weight: 2 },
    ),
    { numRuns: options.frames, seed: options.seed },
  );
  const sockets = await Promise.all(
    Array.from({ length: options.connections }, (_, i) =>
      target.connect(`chaos-frames-${options.seed}-${i}`, { topics: ['chaos.*'] }),
    ),
  );
  let done = 0;
  const lanes = sockets.map((socket, lane) => ({
    socket,
    items: frames.filter((_, i) => i % sockets.length === lane),
  }));
  await mapBounded(
    lanes,
    async ({ socket, items }) => {
      for (const frame of items) {
        await sendOne(socket, frame, recorder, options.answerTimeoutMs ?? 15_000);
        progress(`${++done} of ${frames.length} frames answered`);
      }
    },
    lanes.length,
  );
  for (const socket of sockets) {
    recorder.check(
      socket.socket.readyState === socket.socket.OPEN,
      'a connection was closed by the frames it was sent',
    );
    await socket.close();
  }
  progress(`${done} frames sent`, true);
  return recorder.report();
}

async function sendOne(
  socket: TestSocket,
  frame: GeneratedFrame,
  recorder: SectionRecorder,
  timeoutMs: number,
): Promise<void> {
  const from = socket.frames.length;
  socket.send(frame.text);
  let answer: Frame;
  try {
    answer = await socket.next(
      (f) => ANSWER_KINDS.has(String(f.kind)) || f.message !== undefined,
      timeoutMs,
      from,
    );
  } catch {
    recorder.count('unanswered');
    recorder.fail(`no answer within ${timeoutMs} ms to ${preview(frame.text)}`);
    return;
  }
  recorder.count('frames sent');
  if (answer.kind === undefined) {
    // API Gateway's own error frame ("Internal server error"): the function failed.
    recorder.count('gateway errors');
    recorder.fail(`gateway answered ${JSON.stringify(answer)} to ${preview(frame.text)}`);
    return;
  }
  if (answer.kind === 'error') {
    const code = String(answer.code);
    recorder.count(`refused ${code}`);
    if (!STABLE_CODES.has(code))
      recorder.fail(`error code ${code} for ${preview(frame.text)}: ${String(answer.message)}`);
    else if (frame.expect !== 'refusal' && frame.expect !== 'answer')
      recorder.fail(`valid frame ${preview(frame.text)} refused with ${code}: ${String(answer.message)}`);
    return;
  }
  recorder.count(`answered ${String(answer.kind)}`);
  if (frame.expect === 'refusal')
    recorder.fail(`bad frame ${preview(frame.text)} accepted as ${String(answer.kind)}`);
  else if (frame.expect !== 'answer' && answer.kind !== frame.expect)
    recorder.fail(`${preview(frame.text)} answered ${String(answer.kind)}, not ${frame.expect}`);
}
