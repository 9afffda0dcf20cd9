import { PublishBatchCommand, SNSClient } from '@aws-sdk/client-sns';
import type { PushlineEvent } from '../shared/events.ts';

const sns = new SNSClient({});

/** SNS's entries per PublishBatch request, and its bytes per message. */
const BATCH_ENTRIES = 10;
const MAX_EVENT_BYTES = 256 * 1024 - 1024;

/** Where receipts and lifecycle events go; `emit` never throws. */
export interface EventSink {
  emit(events: readonly PushlineEvent[]): Promise<void>;
}

/** A sink that drops everything: events are off. */
export const NO_EVENTS: EventSink = { emit: async () => {} };

/** Where a sink reports what it could not publish. */
export interface EventSinkReports {
  readonly warn: (message: string, details: Record<string, unknown>) => void;
  /** How many events were dropped (the construct alarms on this count). */
  readonly dropped: (events: number) => void;
}

/**
 * Publishes events to the events topic, ten to a PublishBatch request, each with the message
 * attributes `event` (and `user`, `type` where the event has one) for filter policies. An event
 * that cannot be published is logged through `warn`, counted through `dropped`, and dropped: events
 * never hold up or fail a delivery.
 */
export function createEventSink(topicArn: string | undefined, reports: EventSinkReports): EventSink {
  if (topicArn === undefined) return NO_EVENTS;
  const { warn, dropped } = reports;
  return {
    async emit(events) {
      const entries = events.flatMap((event, index) => {
        const text = JSON.stringify(event);
        if (Buffer.byteLength(text) > MAX_EVENT_BYTES) {
          warn('Event too large for SNS; dropped', { event: event.event });
          dropped(1);
          return [];
        }
        const attributes: Record<string, { DataType: string; StringValue: string }> = {
          event: { DataType: 'String', StringValue: event.event },
        };
        if ('user' in event) attributes.user = { DataType: 'String', StringValue: event.user };
        if ('type' in event) attributes.type = { DataType: 'String', StringValue: event.type };
        return [{ Id: String(index), Message: text, MessageAttributes: attributes }];
      });
      for (let i = 0; i < entries.length; i += BATCH_ENTRIES) {
        const batch = entries.slice(i, i + BATCH_ENTRIES);
        try {
          const answer = await sns.send(
            new PublishBatchCommand({ TopicArn: topicArn, PublishBatchRequestEntries: batch }),
          );
          if ((answer.Failed ?? []).length > 0) {
            warn('SNS refused events; dropped', { failed: answer.Failed?.map((f) => f.Code) });
            dropped(answer.Failed?.length ?? 0);
          }
        } catch (error) {
          warn('Could not publish events; dropped', { error, count: batch.length });
          dropped(batch.length);
        }
      }
    },
  };
}
