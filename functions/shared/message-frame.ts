import type { MessageFrame } from '../shared/protocol.ts';

/** API Gateway's limit for one message posted to a connection (128 KB). */
export const MAX_FRAME_BYTES = 128 * 1024;

/** Longest `seq` the server assigns (a ULID), used to size frames before they exist. */
export const SEQ_LENGTH = 26;

/** Serializes a message frame exactly as it is posted to connections. */
export function serializeFrame(frame: MessageFrame): string {
  return JSON.stringify(frame);
}

/** Bytes the frame takes on the wire (UTF-8). */
export function frameBytes(frame: MessageFrame): number {
  return Buffer.byteLength(serializeFrame(frame), 'utf8');
}

/**
 * Upper bound of the posted frame's size for a message not yet stored:
 * the server adds a `seq` of SEQ_LENGTH characters and a millisecond timestamp.
 */
export function estimateFrameBytes(message: Omit<MessageFrame, 'kind' | 'seq' | 'ts'>): number {
  return frameBytes({ kind: 'message', ...message, seq: 'x'.repeat(SEQ_LENGTH), ts: 9_999_999_999_999 });
}
