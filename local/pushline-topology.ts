import { ENV } from '../functions/shared/environment.ts';
import { TABLE_SCHEMA } from '../functions/shared/table-schema.ts';
import { LOCAL_JWT_SECRET } from './tokens.ts';
import type { Topology } from './topology.ts';

/** Names of Pushline's local resources. */
export const LOCAL_NAMES = {
  api: 'pushline',
  stage: 'prod',
  topic: 'pushline',
  table: 'pushline',
  rejectedQueue: 'pushline-rejected',
  deadLetterQueue: 'pushline-delivery-dlq',
} as const;

/** Where the local services answer, known before any of them starts. */
export interface LocalEndpoints {
  readonly callbackUrl: string;
  readonly topicArn: string;
  readonly rejectedQueueUrl: string;
}

/** Tuning of the local handlers. */
export interface LocalTuning {
  readonly deliveryConcurrency?: number;
  readonly connectionTtlSeconds?: number;
}

/**
 * Pushline's topology for the local runtime, described by hand from the same constants the CDK code
 * uses (environment variable names, table keys).
 */
export function pushlineTopology(endpoints: LocalEndpoints, tuning: LocalTuning = {}): Topology {
  const table = { [ENV.tableName]: LOCAL_NAMES.table };
  const common = { POWERTOOLS_SERVICE_NAME: 'pushline', POWERTOOLS_METRICS_NAMESPACE: 'Pushline' };
  return {
    functions: [
      { name: 'authorizer', entry: 'functions/authorizer.ts', environment: { ...common, [ENV.jwtSecret]: LOCAL_JWT_SECRET } },
      {
        name: 'connect',
        entry: 'functions/connect.ts',
        environment: {
          ...common,
          ...table,
          ...(tuning.connectionTtlSeconds ? { [ENV.connectionTtlSeconds]: String(tuning.connectionTtlSeconds) } : {}),
        },
      },
      { name: 'disconnect', entry: 'functions/disconnect.ts', environment: { ...common, ...table } },
      {
        name: 'message',
        entry: 'functions/message.ts',
        environment: { ...common, ...table, [ENV.callbackUrl]: endpoints.callbackUrl },
      },
      {
        name: 'deliver',
        entry: 'functions/deliver.ts',
        maxConcurrency: 8,
        environment: {
          ...common,
          ...table,
          [ENV.callbackUrl]: endpoints.callbackUrl,
          [ENV.rejectedQueueUrl]: endpoints.rejectedQueueUrl,
          [ENV.deliveryConcurrency]: String(tuning.deliveryConcurrency ?? 32),
        },
      },
    ],
    webSocketApis: [
      {
        name: LOCAL_NAMES.api,
        stage: LOCAL_NAMES.stage,
        routes: {
          $connect: { function: 'connect' },
          $disconnect: { function: 'disconnect' },
          $default: { function: 'message', returnResponse: true },
          ping: { function: 'message', returnResponse: true },
          resume: { function: 'message', returnResponse: true },
          ack: { function: 'message', returnResponse: true },
        },
        // No identity source: the token may come in the query string or in Sec-WebSocket-Protocol,
        // so the authorizer always runs and answers 401 itself when neither carries one.
        authorizer: { function: 'authorizer', identitySource: [] },
      },
    ],
    topics: [
      {
        name: LOCAL_NAMES.topic,
        subscriptions: [{ function: 'deliver', deadLetterQueue: LOCAL_NAMES.deadLetterQueue }],
      },
    ],
    queues: [LOCAL_NAMES.rejectedQueue, LOCAL_NAMES.deadLetterQueue],
    tables: [
      {
        name: LOCAL_NAMES.table,
        partitionKey: TABLE_SCHEMA.partitionKey,
        sortKey: TABLE_SCHEMA.sortKey,
        ttlAttribute: TABLE_SCHEMA.ttlAttribute,
        globalSecondaryIndexes: [
          { name: TABLE_SCHEMA.indexes.byConnection.name, partitionKey: TABLE_SCHEMA.indexes.byConnection.partitionKey },
        ],
      },
    ],
  };
}
