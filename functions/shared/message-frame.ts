/**
 * The one frame builder and the one size rule for messages as posted to connections, shared by the
 * deliver and message functions and the publisher library.
 *
 * A message's `data` travels as JSON text from the published envelope to the client, never parsed
 * and re-serialized on the way: an integer above 2^53 (an 18-digit id) keeps its digits, and no
 * DynamoDB marshalling limit (number range, nesting depth) applies to it.
 */

/** API Gateway's limit for one message posted to a connection (128 KB). */
export const MAX_FRAME_BYTES = 128 * 1024;

/** Longest `seq` the server assigns (a ULID), used to size frames before they exist. */
export const SEQ_LENGTH = 26;

/** A message's fields on the wire, with `data` as the JSON text the publisher sent. */
export interface MessageFields {
  readonly id: string;
  readonly seq?: string;
  readonly type: string;
  readonly source?: string;
  /** Who sent it: the verified user of a client `send`, or what a service's envelope names. */
  readonly from?: string;
  /** Publish time, epoch milliseconds. */
  readonly ts: number;
  /** Set on stored messages the user has already acknowledged (and on a sender's own copy). */
  readonly read?: boolean;
  /** The topic it was published to (its `seq` is then that topic's cursor). */
  readonly topic?: string;
  /** Published to every connection (its `seq` is then the broadcast cursor). */
  readonly broadcast?: boolean;
  /** Valid JSON text (the envelope's `data` exactly as published). */
  readonly dataJson: string;
}

/** The `message` frame as posted: `{"kind":"message","id":…,…,"data":<dataJson>}`. */
export function messageFrameText(message: MessageFields): string {
  const { dataJson, ...fields } = message;
  const head: Record<string, unknown> = { kind: 'message', id: fields.id };
  if (fields.seq !== undefined) head.seq = fields.seq;
  head.type = fields.type;
  if (fields.source !== undefined) head.source = fields.source;
  if (fields.from !== undefined) head.from = fields.from;
  head.ts = fields.ts;
  if (fields.read === true) head.read = true;
  if (fields.topic !== undefined) head.topic = fields.topic;
  if (fields.broadcast === true) head.broadcast = true;
  return `${JSON.stringify(head).slice(0, -1)},"data":${dataJson}}`;
}

/**
 * A frame holding a list of message frames, built around their texts:
 * `{"kind":<kind>,…head,"messages":[…],…tail}`.
 */
export function listFrameText(
  head: Record<string, unknown>,
  messageTexts: readonly string[],
  tail: Record<string, unknown>,
): string {
  const start = JSON.stringify(head).slice(0, -1);
  const end = JSON.stringify(tail).slice(1);
  return `${start},"messages":[${messageTexts.join(',')}]${end === '}' ? '}' : `,${end}`}`;
}

/** Bytes a text takes on the wire (UTF-8). */
export function textBytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * Upper bound of the posted frame's size for a message not yet stored: the server adds a `seq` of
 * SEQ_LENGTH characters and a millisecond timestamp.
 */
export function estimateFrameBytes(message: Omit<MessageFields, 'seq' | 'ts' | 'read'>): number {
  return textBytes(messageFrameText({ ...message, seq: 'x'.repeat(SEQ_LENGTH), ts: 9_999_999_999_999 }));
}

/** The reason a message is refused for its size, or undefined when it fits. */
export function frameSizeProblem(message: Omit<MessageFields, 'seq' | 'ts' | 'read'>): string | undefined {
  const bytes = estimateFrameBytes(message);
  if (bytes <= MAX_FRAME_BYTES) return undefined;
  return `the message is ${bytes} bytes as posted to a connection; API Gateway accepts at most ${MAX_FRAME_BYTES}`;
}
