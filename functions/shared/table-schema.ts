/**
 * The single DynamoDB table's key shapes, shared by the CDK code, the local runtime and the adapters.
 *
 * Connection row: pk = `USER#{userId}`, sk = `CONN#{connectionId}`, attribute `connectionId`
 * (the key of the `byConnection` index, so `$disconnect` finds the row from the connection id alone),
 * `expiresAt` (epoch seconds, the TTL attribute) and `topicCount` (its subscriptions, against
 * MAX_TOPICS_PER_CONNECTION).
 *
 * Preferences row, in the same partition: sk = `CONN$PREFS` (PREFERENCES_SK), attributes
 * `mutedTypes`, `mutedSources` (lists) and `version`. `$` sorts right after `#`, so the row comes
 * right after the connection rows and the Query that delivery makes for them (sk BETWEEN `CONN#`
 * and `CONN$PREFS`) reads it too: applying preferences costs no request of its own. It has no
 * `connectionId`, so no index lists it, and no `expiresAt`: it is kept.
 *
 * Message row, in the same partition `USER#{userId}`: sk = `MSG#{messageId}`. One row is at once the
 * idempotency marker (a conditional put on the id) and, for stored messages, the message itself:
 * - `seq` (store order, a ULID): the sort key of the `bySeq` local index, which serves resume and
 *   history in store order with strongly consistent reads;
 * - `unread` (= `seq` while unread, removed by the first acknowledgement): the sort key of the sparse
 *   `unread` local index, from which unread counts are derived, so they cannot drift;
 * - `data` (the JSON text as published), `type`, `source`, `ts`, `readAt`;
 * - `state` (`claimed`, or `retry` when an attempt handed the user back) and `owner` (the attempt).
 * Messages that are not stored (`persist: false`) keep only the marker: no `seq`, in no index.
 *
 * Audience rows (who receives topic and broadcast messages), each carrying `connectionId` (so the
 * `byConnection` index finds every row of a connection when it ends), `userId` and the connection's
 * `expiresAt`; spread over AUDIENCE_SHARDS partitions by the connection id (topics.ts, `shardOf`):
 * - broadcast row: pk = `ALL#{shard}`, sk = `CONN#{connectionId}`, written at `$connect`;
 * - subscription row: pk = `TOPIC#{topic}#{shard}`, sk = `CONN#{connectionId}`, attribute `topic`.
 * Topic log (stored topic and broadcast messages, once per topic, not per subscriber): pk =
 * `LOG#{topic}` (broadcasts: `LOG#*`), sk = `MSG#{messageId}`, with `seq`, `type`, `source`, `ts`,
 * `data`, `expiresAt` as in an inbox (in the `bySeq` index, never in `unread`).
 * Presence row (presence topics only): pk = `PRESENCE#{topic}`, sk = `USER#{userId}`, attribute
 * `conns` (the string set of that user's subscribed connection ids; join when it gains its first,
 * leave when it loses its last).
 * Fan-out part marker: pk = `FANOUT#{messageId}`, sk = `PART#{shard}#{after}`, `state` claimed|done.
 * Push device row (mobile push, domain/mobile-push.ts), in the user's partition `USER#{userId}`:
 * sk = `PUSH#{endpointArn}` (one row per SNS platform endpoint, i.e. per device token), attributes
 * `endpointArn`, `platform` (`APNS`, `APNS_SANDBOX`, `GCM`), `token`, `registeredAt` (epoch ms) and
 * `expiresAt` (DEVICE_TTL_SECONDS after the last registration: apps register again at each launch).
 * `PUSH#` sorts after `MSG#`, so neither the delivery Query (CONN# to CONN$PREFS) nor the message
 * queries read these rows, and a user's devices are one Query (begins_with `PUSH#`), made only for
 * users no connection took a message. The endpoint's `CustomUserData` names the owner, so a token
 * registered again by another user leaves the former owner's partition. No `connectionId`: in no index.
 * Every row carries `expiresAt`.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  indexes: {
    byConnection: { name: 'byConnection', partitionKey: 'connectionId' },
  },
  localIndexes: {
    bySeq: { name: 'bySeq', sortKey: 'seq' },
    unread: { name: 'unread', sortKey: 'unread', include: ['source', 'expiresAt'] },
  },
} as const;

/** Key prefixes; the ids that follow them are opaque strings. */
export const KEY = {
  user: (userId: string) => `USER#${userId}`,
  connection: (connectionId: string) => `CONN#${connectionId}`,
  connectionPrefix: 'CONN#',
  /** The sort key of a user's preferences row (see above). */
  preferences: 'CONN$PREFS',
  message: (messageId: string) => `MSG#${messageId}`,
  messagePrefix: 'MSG#',
  broadcastShard: (shard: number) => `ALL#${shard}`,
  topicShard: (topic: string, shard: number) => `TOPIC#${topic}#${shard}`,
  /** The log of a topic's stored messages; BROADCAST_LOG for broadcasts. */
  topicLog: (topic: string) => `LOG#${topic}`,
  presence: (topic: string) => `PRESENCE#${topic}`,
  fanout: (messageId: string) => `FANOUT#${messageId}`,
  fanoutPart: (shard: number, after: string) => `PART#${shard}#${after}`,
  /** A push device row of a user (see above). */
  pushDevice: (endpointArn: string) => `PUSH#${endpointArn}`,
  pushDevicePrefix: 'PUSH#',
} as const;

/** The name broadcasts are logged under (`*` is in no topic name). */
export const BROADCAST_LOG = '*';

/** API Gateway cuts every WebSocket connection after 2 hours; rows live 10 minutes longer. */
export const DEFAULT_CONNECTION_TTL_SECONDS = 2 * 60 * 60 + 10 * 60;
