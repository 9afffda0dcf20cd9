/**
 * The parts of API Gateway's WebSocket proxy event that Pushline reads. The `aws-lambda` types
 * leave out `authorizer` and `identity`, which API Gateway does send.
 */
export interface WebSocketEvent {
  readonly requestContext: {
    readonly connectionId: string;
    readonly routeKey: string;
    readonly eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
    readonly connectedAt?: number;
    readonly requestTimeEpoch?: number;
    readonly authorizer?: {
      readonly principalId?: unknown;
      readonly userId?: unknown;
      readonly topics?: unknown;
    } | null;
    readonly identity?: { readonly sourceIp?: string; readonly userAgent?: string } | null;
    readonly disconnectStatusCode?: number;
    readonly disconnectReason?: string;
  };
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly headers?: Record<string, string | undefined> | null;
  readonly queryStringParameters?: Record<string, string | undefined> | null;
}

/** The result a WebSocket route integration returns. */
export interface WebSocketResult {
  readonly statusCode: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
}

/**
 * The verified user id of the connection: set by the authorizer at `$connect` and repeated by
 * API Gateway on every later event. Never read from anything the client sends.
 */
export function userIdOf(event: WebSocketEvent): string | undefined {
  const authorizer = event.requestContext.authorizer;
  const userId = authorizer?.userId ?? authorizer?.principalId;
  return typeof userId === 'string' && userId !== '' ? userId : undefined;
}

/** The topic patterns the connection's token granted (the authorizer's `topics`, space-separated). */
export function topicGrantsOf(event: WebSocketEvent): string[] {
  const topics = event.requestContext.authorizer?.topics;
  return typeof topics === 'string' ? topics.split(' ').filter((pattern) => pattern !== '') : [];
}
