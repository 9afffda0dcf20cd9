/**
 * The single DynamoDB table's key shapes, shared by the CDK code, the local runtime and the adapters.
 *
 * Connection row: pk = `USER#{userId}`, sk = `CONN#{connectionId}`, attribute `connectionId`
 * (the key of the `byConnection` index, so `$disconnect` finds the row from the connection id alone)
 * and `expiresAt` (epoch seconds, the TTL attribute).
 *
 * Inbox of a user, in the same partition `USER#{userId}`:
 * - stored message: sk = `MSG#{seq}` (seq sorts in store order), with `readAt` once acknowledged;
 * - idempotency marker: sk = `ID#{messageId}`, holding the message's seq and delivery state;
 * - unread counters: sk = `UNREAD`, numbers `total` and `u#{source}` per source.
 * Every row carries `expiresAt`.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  indexes: {
    byConnection: { name: 'byConnection', partitionKey: 'connectionId' },
  },
} as const;

/** Key prefixes; the ids that follow them are opaque strings. */
export const KEY = {
  user: (userId: string) => `USER#${userId}`,
  connection: (connectionId: string) => `CONN#${connectionId}`,
  connectionPrefix: 'CONN#',
  message: (seq: string) => `MSG#${seq}`,
  messagePrefix: 'MSG#',
  messageId: (messageId: string) => `ID#${messageId}`,
  unread: 'UNREAD',
} as const;

/** API Gateway cuts every WebSocket connection after 2 hours; rows live 10 minutes longer. */
export const DEFAULT_CONNECTION_TTL_SECONDS = 2 * 60 * 60 + 10 * 60;
