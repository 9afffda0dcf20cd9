import { PublishBatchCommand, SNSClient } from '@aws-sdk/client-sns';
import * as z from 'zod/mini';
import type { FanoutPart, PartQueue } from '../domain/audience.ts';
import { memberText } from '../shared/json-text.ts';
import '../shared/schema-messages.ts'; // Zod's English messages
import { AUDIENCE_SHARDS, topicNameProblem } from '../shared/topics.ts';

const sns = new SNSClient({});

/** Entries SNS accepts in one PublishBatch request. */
const BATCH_ENTRIES = 10;

/** Attempts for entries SNS refuses with a retryable error (it reports them per entry). */
const ATTEMPTS = 3;

/**
 * A part as an SNS message: its fields, with the frame as a raw JSON member (not a string), so that
 * a 128 KB frame of quotes still fits SNS's 256 KB.
 */
export function partText(part: FanoutPart): string {
  const { frame, ...fields } = part;
  return `${JSON.stringify({ pushline: 'fanout', ...fields }).slice(0, -1)},"frame":${frame}}`;
}

const partSchema = z.object({
  pushline: z.literal('fanout'),
  messageId: z.string().check(z.minLength(1), z.maxLength(256)),
  audience: z.union([
    z.strictObject({ topic: z.string().check(z.refine((topic) => topicNameProblem(topic) === undefined)) }),
    z.strictObject({ all: z.literal(true) }),
  ]),
  shard: z.int().check(z.minimum(0), z.maximum(AUDIENCE_SHARDS - 1)),
  after: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
  frame: z.looseObject({ kind: z.string() }),
});

/** Reads a part back; undefined when the text is not one (the caller logs and drops it). */
export function parsePartText(text: string): FanoutPart | undefined {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return undefined;
  }
  const result = partSchema.safeParse(json);
  const frame = memberText(text, 'frame');
  if (!result.success || frame === undefined) return undefined;
  const { messageId, audience, shard, after } = result.data;
  return { messageId, audience, shard, frame, ...(after !== undefined ? { after } : {}) };
}

/** Hands parts on through the internal fan-out topic: as few PublishBatch requests as they fit. */
export function createPartQueue(topicArn: string): PartQueue {
  return {
    async send(parts) {
      for (let start = 0; start < parts.length; start += BATCH_ENTRIES) {
        let entries = parts
          .slice(start, start + BATCH_ENTRIES)
          .map((part, index) => ({ Id: String(index), Message: partText(part) }));
        for (let attempt = 1; entries.length > 0; attempt++) {
          const result = await sns.send(
            new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: entries }),
          );
          const failed = result.Failed ?? [];
          if (failed.length === 0) break;
          const fatal =
            failed.find((entry) => entry.SenderFault === true) ??
            (attempt >= ATTEMPTS ? failed[0] : undefined);
          if (fatal !== undefined) {
            throw new Error(`SNS refused a fan-out part: ${fatal.Code}: ${fatal.Message}`);
          }
          const retry = new Set(failed.map((entry) => entry.Id));
          entries = entries.filter((entry) => retry.has(entry.Id));
        }
      }
    },
  };
}
