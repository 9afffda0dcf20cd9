import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';

const sqs = new SQSClient({});

/** What is kept of a rejected message: the body exactly as published, and why it was refused. */
export interface RejectedMessage {
  readonly body: string;
  readonly reason: string;
  readonly snsMessageId: string;
  readonly topicArn: string;
}

/** Keeps a rejected message in the dead-letter queue; the reason travels as message attributes. */
export async function keepRejected(queueUrl: string, rejected: RejectedMessage): Promise<void> {
  await sqs.send(
    new SendMessageCommand({
      QueueUrl: queueUrl,
      // SQS refuses empty bodies; an empty SNS message is kept as a visible placeholder.
      MessageBody: rejected.body === '' ? '(empty message)' : rejected.body,
      MessageAttributes: {
        reason: { DataType: 'String', StringValue: rejected.reason.slice(0, 1024) },
        snsMessageId: { DataType: 'String', StringValue: rejected.snsMessageId },
        topicArn: { DataType: 'String', StringValue: rejected.topicArn },
      },
    }),
  );
}
