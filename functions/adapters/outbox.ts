import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import type { Outbox } from '../domain/conversation.ts';

const sns = new SNSClient({});

/**
 * Publishes envelopes to the Pushline topic, as a service would, with the given message attributes
 * (so services' filter policies see client sends too). Throws when SNS refuses: the sender's SDK
 * sends again with the same id, which is safe.
 */
export function createOutbox(topicArn: string): Outbox {
  return {
    async publish(envelopeText, attributes) {
      await sns.send(
        new PublishCommand({
          TopicArn: topicArn,
          Message: envelopeText,
          MessageAttributes: Object.fromEntries(
            Object.entries(attributes).map(([name, value]) => [
              name,
              { DataType: 'String', StringValue: value },
            ]),
          ),
        }),
      );
    },
  };
}
