/**
 * What IAM authorizes for a DynamoDB, SNS or SQS request, as AWS's service authorization reference
 * lists it: the action(s) and resource ARN(s) a request needs, for strict IAM (access-policy.ts).
 */
import type { AccessRequest } from '../access-policy.ts';
import type { QueryParams } from './query-protocol.ts';

/** Where ARNs are made. */
export interface ArnScope {
  readonly region: string;
  readonly accountId: string;
}

/** Transaction parts and the action each needs on its table. */
const TRANSACT_PARTS: Readonly<Record<string, string>> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
  Get: 'dynamodb:GetItem',
};

/**
 * A DynamoDB request: `dynamodb:<Operation>` on the table (on `table/T/index/I` for a Query or Scan
 * of an index), the batch operations on each table they name, and transactions as the item action
 * of each part on its table.
 */
export function dynamoAccessRequests(
  operation: string,
  body: Record<string, unknown>,
  scope: ArnScope,
): AccessRequest[] {
  const table = (name: unknown) =>
    `arn:aws:dynamodb:${scope.region}:${scope.accountId}:table/${typeof name === 'string' ? name : '*'}`;
  if (operation === 'BatchWriteItem' || operation === 'BatchGetItem') {
    const tables = Object.keys((body.RequestItems as Record<string, unknown> | undefined) ?? {});
    return tables.map((name) => ({ action: `dynamodb:${operation}`, resource: table(name) }));
  }
  if (operation === 'TransactWriteItems' || operation === 'TransactGetItems') {
    const requests: AccessRequest[] = [];
    for (const item of (body.TransactItems as Record<string, { TableName?: unknown }>[] | undefined) ?? []) {
      for (const [part, action] of Object.entries(TRANSACT_PARTS)) {
        const entry = item?.[part];
        if (entry !== undefined) requests.push({ action, resource: table(entry.TableName) });
      }
    }
    return requests;
  }
  if (operation === 'ListTables') return [{ action: 'dynamodb:ListTables', resource: '*' }];
  const index =
    (operation === 'Query' || operation === 'Scan') && typeof body.IndexName === 'string'
      ? `/index/${body.IndexName}`
      : '';
  return [{ action: `dynamodb:${operation}`, resource: `${table(body.TableName)}${index}` }];
}

/**
 * An SNS request: `sns:<Action>` (PublishBatch is `sns:Publish`) on the topic, the mobile endpoint,
 * or the platform application it names.
 */
export function snsAccessRequests(params: QueryParams, scope: ArnScope): AccessRequest[] {
  const action = params.get('Action') ?? '';
  const name = params.get('Name');
  const resource =
    params.get('TopicArn') ??
    params.get('TargetArn') ??
    params.get('EndpointArn') ??
    params.get('PlatformApplicationArn') ??
    params.get('SubscriptionArn') ??
    params.get('ResourceArn') ??
    (action === 'CreateTopic' && name !== undefined
      ? `arn:aws:sns:${scope.region}:${scope.accountId}:${name}`
      : '*');
  return [{ action: `sns:${action === 'PublishBatch' ? 'Publish' : action}`, resource }];
}

/** Batch operations IAM authorizes as their single action. */
const SQS_BATCHES: Readonly<Record<string, string>> = {
  SendMessageBatch: 'SendMessage',
  DeleteMessageBatch: 'DeleteMessage',
  ChangeMessageVisibilityBatch: 'ChangeMessageVisibility',
};

/** An SQS request (JSON protocol): `sqs:<Operation>` on the queue its `QueueUrl` or `QueueName` names. */
export function sqsAccessRequests(
  operation: string,
  body: Record<string, unknown>,
  scope: ArnScope,
): AccessRequest[] {
  const url = typeof body.QueueUrl === 'string' ? body.QueueUrl : undefined;
  const name = url !== undefined ? url.replace(/\/+$/, '').split('/').pop() : body.QueueName;
  const resource =
    typeof name === 'string' && name !== '' ? `arn:aws:sqs:${scope.region}:${scope.accountId}:${name}` : '*';
  return [{ action: `sqs:${SQS_BATCHES[operation] ?? operation}`, resource }];
}
