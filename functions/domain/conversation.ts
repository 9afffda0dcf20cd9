/**
 * Client `send`: a user's message to another user, to a topic, or to a backend service. The server
 * stamps the sender from the verified token. To users and topics it publishes the message as an
 * envelope on the Pushline topic, so it takes the path every published message takes (stored,
 * pushed, acknowledged, idempotent by id); to a service, on the inbound topic services subscribe to.
 */

import { createHash } from 'node:crypto';
import { PushlineError } from '../shared/errors.ts';
import { frameSizeProblem } from '../shared/message-frame.ts';
import type { SendFrame, SentFrame } from '../shared/protocol.ts';
import { topicMatches } from '../shared/topics.ts';

/** Who may send what: the deployer's rule. */
export interface SendRules {
  /** Whether users may send to other users. */
  readonly toUsers: boolean;
  /** Topic patterns every user may subscribe (and so send) to, besides the token's grants. */
  readonly openTopics: readonly string[];
  /** The backend services users may send to (`to: { service }`). */
  readonly services: readonly string[];
}

/** Takes one send from a connection's budget: false when it is spent (see the adapter's token bucket). */
export interface SendLimiter {
  take(userId: string, connectionId: string, nowMs: number): Promise<boolean>;
}

/** Publishes a message (as JSON text) to an SNS topic: the Pushline topic, or the inbound topic. */
export interface Outbox {
  publish(envelopeText: string, attributes: Record<string, string>): Promise<void>;
}

/**
 * A `send` the server will not carry out, with the error code the sender gets: `FORBIDDEN` (a user
 * rule, or a topic the token does not grant), `RATE_LIMITED` (the connection's budget is spent),
 * `TOO_LARGE` (it would not fit API Gateway's 128 KB once posted).
 */
export class SendRefusedError extends PushlineError {
  constructor(
    readonly refusal: 'FORBIDDEN' | 'RATE_LIMITED' | 'TOO_LARGE',
    message: string,
    readonly topic?: string,
  ) {
    super(refusal, message);
  }
}

/**
 * The id a sent message carries: the sender's `id` behind a key of the sender, so two users' ids
 * never collide in a recipient's inbox, and the same `id` from the same user is the same message.
 */
export function sentMessageId(userId: string, id: string): string {
  const key = createHash('sha256').update(userId).digest('base64url').slice(0, 16);
  return `u:${key}:${id}`;
}

/**
 * Checks a `send` frame against the rules, its size and the connection's rate, then publishes it.
 * To a user, the envelope addresses the recipient and the sender (whose own devices see it, stored
 * as read); to a topic, its subscribers. Resolves with the `sent` answer once SNS has accepted it.
 */
export async function send(
  ports: { readonly limiter: SendLimiter; readonly outbox: Outbox; readonly inbound?: Outbox },
  rules: SendRules,
  who: { readonly userId: string; readonly connectionId: string; readonly grants: readonly string[] },
  frame: SendFrame,
  dataJson: string,
  nowMs: number,
): Promise<SentFrame> {
  if ('user' in frame.to && !rules.toUsers) {
    throw new SendRefusedError('FORBIDDEN', 'Sending to users is not enabled on this deployment.');
  }
  if ('service' in frame.to && (!rules.services.includes(frame.to.service) || ports.inbound === undefined)) {
    throw new SendRefusedError('FORBIDDEN', `There is no service "${frame.to.service}" to send to.`);
  }
  if ('topic' in frame.to) {
    const { topic } = frame.to;
    if (!topicMatches(topic, who.grants) && !topicMatches(topic, rules.openTopics)) {
      throw new SendRefusedError('FORBIDDEN', `You may not send to topic "${topic}".`, topic);
    }
  }
  const messageId = sentMessageId(who.userId, frame.id);
  const tooLarge = frameSizeProblem({
    id: messageId,
    type: frame.type,
    from: who.userId,
    dataJson,
    ...('topic' in frame.to ? { topic: frame.to.topic } : {}),
  });
  if (tooLarge !== undefined) throw new SendRefusedError('TOO_LARGE', tooLarge);
  if (!(await ports.limiter.take(who.userId, who.connectionId, nowMs))) {
    throw new SendRefusedError(
      'RATE_LIMITED',
      'Too many messages from this connection; wait a moment and send again with the same id.',
    );
  }
  if ('service' in frame.to) {
    const { service } = frame.to;
    const head = JSON.stringify({
      v: 1,
      kind: 'service-message',
      id: messageId,
      service,
      from: who.userId,
      type: frame.type,
      ts: nowMs,
    });
    await ports.inbound?.publish(`${head.slice(0, -1)},"data":${dataJson}}`, {
      service,
      from: who.userId,
      type: frame.type,
    });
    return { kind: 'sent', id: frame.id, messageId };
  }

  const to =
    'user' in frame.to ? { users: [...new Set([frame.to.user, who.userId])] } : { topic: frame.to.topic };
  const head = JSON.stringify({ v: 1, id: messageId, to, type: frame.type, from: who.userId });
  await ports.outbox.publish(`${head.slice(0, -1)},"data":${dataJson}}`, {
    type: frame.type,
    from: who.userId,
  });
  return { kind: 'sent', id: frame.id, messageId };
}
