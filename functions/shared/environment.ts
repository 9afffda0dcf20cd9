/**
 * Names of the environment variables the handlers read at cold start.
 * The CDK code and the local runtime set them; nothing else should spell these strings.
 */
export const ENV = {
  /** DynamoDB table holding connections (and, later, inboxes and preferences). */
  tableName: 'PUSHLINE_TABLE_NAME',
  /** Management API endpoint of the WebSocket stage: `https://{api}.execute-api.{region}.amazonaws.com/{stage}`. */
  callbackUrl: 'PUSHLINE_CALLBACK_URL',
  /** HS256 shared secret for tokens (local use). Mutually exclusive with the JWKS settings. */
  jwtSecret: 'PUSHLINE_JWT_SECRET',
  /** ARN of a Secrets Manager secret holding the HS256 secret (deployed use of a shared secret). */
  jwtSecretArn: 'PUSHLINE_JWT_SECRET_ARN',
  /** JWKS URL for RS256/ES256 tokens, e.g. a Cognito user pool's `/.well-known/jwks.json`. */
  jwksUrl: 'PUSHLINE_JWKS_URL',
  /** Expected `iss` claim (required with a JWKS URL, optional with a secret). */
  jwtIssuer: 'PUSHLINE_JWT_ISSUER',
  /** Expected `aud` claim, comma-separated when several are accepted. */
  jwtAudience: 'PUSHLINE_JWT_AUDIENCE',
  /** `true`: tokens without `exp` are accepted (never expire). Unset: they are refused. */
  jwtAllowNoExpiry: 'PUSHLINE_JWT_ALLOW_NO_EXP',
  /**
   * How the functions call the management API: `http` (SigV4-signed requests over a keep-alive
   * agent) or `sdk` (ApiGatewayManagementApiClient); see shared/management-client.ts.
   */
  managementClient: 'PUSHLINE_MANAGEMENT_CLIENT',
  /** How many PostToConnection calls one delivery invocation keeps in flight. */
  deliveryConcurrency: 'PUSHLINE_DELIVERY_CONCURRENCY',
  /** Lifetime of a connection row in seconds (just over API Gateway's 2-hour maximum). */
  connectionTtlSeconds: 'PUSHLINE_CONNECTION_TTL_SECONDS',
  /** SQS queue URL where rejected (invalid) envelopes are kept with their reason. */
  rejectedQueueUrl: 'PUSHLINE_REJECTED_QUEUE_URL',
  /** Name of the token claim listing the topics (names or `prefix*`) a user may subscribe to. */
  topicClaim: 'PUSHLINE_TOPIC_CLAIM',
  /** Topic patterns every user may subscribe to, comma-separated (besides the token's claim). */
  openTopics: 'PUSHLINE_OPEN_TOPICS',
  /** Topic patterns whose subscribers get `presence` frames, comma-separated. */
  presenceTopics: 'PUSHLINE_PRESENCE_TOPICS',
  /** ARN of the internal SNS topic that carries fan-out parts (topic and broadcast deliveries). */
  fanoutTopicArn: 'PUSHLINE_FANOUT_TOPIC_ARN',
  /** Most connections one fan-out invocation posts to before it hands the rest on. */
  fanoutConnectionsPerInvocation: 'PUSHLINE_FANOUT_CONNECTIONS_PER_INVOCATION',
  /** Most PostToConnection calls per second one fan-out invocation makes. */
  fanoutPostsPerSecond: 'PUSHLINE_FANOUT_POSTS_PER_SECOND',
  /** ARN of the Pushline topic, where the message function publishes what clients `send`. */
  topicArn: 'PUSHLINE_TOPIC_ARN',
  /** ARN of the inbound topic, where what clients `send` to a backend service is published. */
  inboundTopicArn: 'PUSHLINE_INBOUND_TOPIC_ARN',
  /** Names of the backend services clients may `send` to, comma-separated. */
  services: 'PUSHLINE_SERVICES',
  /** ARN of the events topic (receipts and lifecycle events); unset: no events. */
  eventsTopicArn: 'PUSHLINE_EVENTS_TOPIC_ARN',
  /** Message types no preference can mute (security alerts, say), comma-separated. */
  mandatoryTypes: 'PUSHLINE_MANDATORY_TYPES',
  /** `true` (the default) lets users `send` to other users; `false` refuses it. */
  sendToUsers: 'PUSHLINE_SEND_TO_USERS',
  /** A connection's average `send` rate, per second. */
  sendRatePerSecond: 'PUSHLINE_SEND_RATE_PER_SECOND',
  /** How many `send`s a connection may make at once before the rate applies. */
  sendBurst: 'PUSHLINE_SEND_BURST',
  /**
   * Mobile push: the SNS platform applications, as `PLATFORM=arn` pairs, comma-separated (e.g.
   * `APNS=arn:aws:sns:…:app/APNS/my-app,GCM=arn:aws:sns:…:app/GCM/my-app`). Absent: no mobile push.
   */
  pushApplications: 'PUSHLINE_PUSH_APPLICATIONS',
  /** Message types sent by mobile push to users no connection took, comma-separated. */
  pushTypes: 'PUSHLINE_PUSH_TYPES',
} as const;

/** One of the environment variable names above. */
export type EnvName = (typeof ENV)[keyof typeof ENV];
