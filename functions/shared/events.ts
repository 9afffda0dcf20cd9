/**
 * Receipts and lifecycle events, published (when the deployer turns them on) to the construct's
 * events topic for publishers to subscribe to and filter on the message attribute `event`. Each SNS
 * message is one event; deliveries are summed per user and per fan-out part, never one event per
 * connection, so a broadcast costs a handful of events, not one per device.
 */
import type { RejectionCode } from './errors.ts';

/** One user's share of a delivery. */
export interface DeliveredUser {
  readonly user: string;
  /** Connections the message was posted to. */
  readonly connections: number;
}

/** Every event, by its `event` field. */
export type PushlineEvent =
  | {
      /** A message reached users (user messages: per user; topic and broadcast: per fan-out part). */
      readonly event: 'delivered';
      readonly messageId: string;
      readonly type: string;
      /** User messages: each user it was posted to, with its connection count. */
      readonly users?: readonly DeliveredUser[];
      /** Topic and broadcast messages: the part's connections, and the topic (absent for broadcasts). */
      readonly connections?: number;
      readonly topic?: string;
      readonly broadcast?: true;
      readonly ts: number;
    }
  | {
      /** Messages were read (acknowledged) by a user on one device. */
      readonly event: 'read';
      readonly user: string;
      /** The connection that acknowledged them. */
      readonly device: string;
      readonly messageIds: readonly string[];
      readonly ts: number;
    }
  | {
      /**
       * A message could not reach these users in this attempt (a table error, posts that kept
       * failing, the deadline); Lambda retries the event, and a `delivered` follows when one works.
       */
      readonly event: 'failed';
      readonly messageId: string;
      readonly users: readonly string[];
      readonly reason: string;
      readonly ts: number;
    }
  | {
      /** An envelope was refused (kept in the rejected queue with the same reason). */
      readonly event: 'rejected';
      readonly snsMessageId: string;
      /** The envelope's `id`, when it could be read. */
      readonly messageId?: string;
      /** Why, as a stable code (see `RejectionCode`); `reason` says it in words. */
      readonly code: RejectionCode;
      readonly reason: string;
      readonly ts: number;
    }
  | {
      readonly event: 'connected';
      readonly user: string;
      readonly connectionId: string;
      readonly ts: number;
    }
  | {
      readonly event: 'disconnected';
      readonly user: string;
      readonly connectionId: string;
      /** API Gateway's close code (1000 closed by the client, 1001 going away, 1006 gone…). */
      readonly closeCode?: number;
      readonly reason?: string;
      readonly ts: number;
    };

/** The `event` names. */
export type PushlineEventName = PushlineEvent['event'];
