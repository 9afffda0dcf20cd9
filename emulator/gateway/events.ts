/**
 * The events API Gateway sends to Lambda for a WebSocket API: the REQUEST authorizer event on
 * `$connect`, and the Lambda proxy events of `$connect`, message routes and `$disconnect`.
 * Shapes follow events captured from AWS (see docs/local-runtime.md).
 */
import { randomBytes } from 'node:crypto';

/** Who connected, as API Gateway reports it in `requestContext.identity`. */
export interface ConnectionIdentity {
  readonly sourceIp: string;
  readonly userAgent: string | null;
}

/** What every event of one connection shares. */
export interface ConnectionContext {
  readonly apiId: string;
  readonly stage: string;
  readonly domainName: string;
  readonly connectionId: string;
  /** Epoch milliseconds. */
  readonly connectedAt: number;
  readonly identity: ConnectionIdentity;
  /** `{ ...context, principalId, integrationLatency }` once an authorizer allowed the connection. */
  readonly authorizer?: Readonly<Record<string, string | number | null>>;
}

/** Headers and query string of the upgrade request, in the shapes Lambda events carry them. */
export interface RequestParameters {
  readonly headers: Record<string, string>;
  readonly multiValueHeaders: Record<string, string[]>;
  readonly queryStringParameters: Record<string, string> | undefined;
  readonly multiValueQueryStringParameters: Record<string, string[]> | undefined;
}

/**
 * An id in the form API Gateway uses for connection, request and message ids: 16 characters of
 * URL-safe base64 ending in `=` (e.g. `eHrdFcnvvHcCE-w=`). The `=` makes callers URL-encode it.
 */
export function newGatewayId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `requestTime` in Common Log Format, e.g. `16/Mar/2025:00:46:22 +0000`. */
export function clfTime(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/**
 * Headers (original casing, from `rawHeaders`) and query string of the upgrade request, plus the
 * `X-Forwarded-*` headers API Gateway adds. `dropHopByHop` removes Connection/Upgrade, which the
 * `$connect` proxy event does not carry (the authorizer event does).
 */
export function requestParameters(
  rawHeaders: readonly string[],
  search: URLSearchParams,
  forwarded: { sourceIp: string; port: number },
  dropHopByHop: boolean,
): RequestParameters {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const hopByHop = new Set(['connection', 'upgrade', 'content-length']);
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    if (dropHopByHop && hopByHop.has(name.toLowerCase())) continue;
    const existing = Object.keys(headers).find((key) => key.toLowerCase() === name.toLowerCase()) ?? name;
    // As with query parameters, the single-value map keeps the last of repeated headers.
    headers[existing] = value;
    multiValueHeaders[existing] = [...(multiValueHeaders[existing] ?? []), value];
  }
  const added: Record<string, string> = {
    'X-Forwarded-For': forwarded.sourceIp,
    'X-Forwarded-Port': String(forwarded.port),
    'X-Forwarded-Proto': 'http',
  };
  for (const [name, value] of Object.entries(added)) {
    headers[name] = value;
    multiValueHeaders[name] = [value];
  }
  let queryStringParameters: Record<string, string> | undefined;
  let multiValueQueryStringParameters: Record<string, string[]> | undefined;
  for (const [name, value] of search) {
    queryStringParameters ??= {};
    multiValueQueryStringParameters ??= {};
    queryStringParameters[name] = value;
    multiValueQueryStringParameters[name] = [...(multiValueQueryStringParameters[name] ?? []), value];
  }
  return { headers, multiValueHeaders, queryStringParameters, multiValueQueryStringParameters };
}

function baseRequestContext(
  connection: ConnectionContext,
  routeKey: string,
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
  requestTimeEpoch: number,
) {
  const requestId = newGatewayId();
  return {
    routeKey,
    eventType,
    extendedRequestId: requestId,
    requestTime: clfTime(requestTimeEpoch),
    messageDirection: 'IN',
    stage: connection.stage,
    connectedAt: connection.connectedAt,
    requestTimeEpoch,
    identity: { ...connection.identity },
    requestId,
    domainName: connection.domainName,
    connectionId: connection.connectionId,
    apiId: connection.apiId,
    ...(connection.authorizer === undefined ? {} : { authorizer: { ...connection.authorizer } }),
  };
}

/** The REQUEST authorizer event of a WebSocket `$connect`. */
export function authorizerEvent(
  connection: ConnectionContext,
  parameters: RequestParameters,
  methodArn: string,
  requestTimeEpoch: number,
) {
  return {
    type: 'REQUEST',
    methodArn,
    headers: parameters.headers,
    multiValueHeaders: parameters.multiValueHeaders,
    queryStringParameters: parameters.queryStringParameters ?? {},
    multiValueQueryStringParameters: parameters.multiValueQueryStringParameters ?? {},
    stageVariables: {},
    requestContext: baseRequestContext(connection, '$connect', 'CONNECT', requestTimeEpoch),
  };
}

/** The Lambda proxy event of `$connect`. */
export function connectEvent(
  connection: ConnectionContext,
  parameters: RequestParameters,
  requestTimeEpoch: number,
) {
  return {
    headers: parameters.headers,
    multiValueHeaders: parameters.multiValueHeaders,
    ...(parameters.queryStringParameters === undefined
      ? {}
      : {
          queryStringParameters: parameters.queryStringParameters,
          multiValueQueryStringParameters: parameters.multiValueQueryStringParameters,
        }),
    requestContext: baseRequestContext(connection, '$connect', 'CONNECT', requestTimeEpoch),
    isBase64Encoded: false,
  };
}

/** The Lambda proxy event of a message route. */
export function messageEvent(
  connection: ConnectionContext,
  routeKey: string,
  message: { readonly body: string; readonly isBase64Encoded: boolean },
  requestTimeEpoch: number,
) {
  const requestContext = baseRequestContext(connection, routeKey, 'MESSAGE', requestTimeEpoch);
  return {
    requestContext: { ...requestContext, messageId: newGatewayId() },
    body: message.body,
    isBase64Encoded: message.isBase64Encoded,
  };
}

/** The Lambda proxy event of `$disconnect`: a few fixed headers, no query string. */
export function disconnectEvent(
  connection: ConnectionContext,
  close: { readonly statusCode: number; readonly reason: string },
  requestTimeEpoch: number,
) {
  const headers: Record<string, string> = {
    Host: connection.domainName,
    'x-api-key': '',
    'X-Forwarded-For': connection.identity.sourceIp,
    'x-restapi': '',
  };
  const multiValueHeaders = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name, [value]]),
  );
  const requestContext = baseRequestContext(connection, '$disconnect', 'DISCONNECT', requestTimeEpoch);
  return {
    headers,
    multiValueHeaders,
    requestContext: {
      ...requestContext,
      disconnectStatusCode: close.statusCode,
      disconnectReason: close.reason,
    },
    isBase64Encoded: false,
  };
}
