import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ConfigError } from '../shared/errors.ts';
import { type CredentialSource, createCredentialSource } from './aws-credentials.ts';
import type { ManagementTransport, TransportOptions } from './management-api.ts';
import { canonicalPath, createSigV4Signer, escapeUri } from './sigv4.ts';

/**
 * An error answer of the management API, shaped like the SDK's service exceptions on purpose:
 * `name` is AWS's error name and `$metadata.httpStatusCode` the status, which is what the poster's
 * rules (and every log line) read, whichever transport made the call.
 */
export class ManagementApiError extends Error {
  /** As the SDK sets it: 'server' for 5xx answers. */
  readonly $fault: 'client' | 'server';
  readonly $metadata: { readonly httpStatusCode: number; readonly requestId?: string };

  constructor(name: string, message: string, httpStatusCode: number, requestId: string | undefined) {
    super(message);
    this.name = name;
    this.$fault = httpStatusCode >= 500 ? 'server' : 'client';
    this.$metadata = { httpStatusCode, ...(requestId === undefined ? {} : { requestId }) };
  }
}

/** A call that got no complete answer in time; no `$metadata`, so the poster retries it. */
export class ManagementApiTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** What the transport reads besides its options (tests give their own). */
export interface HttpTransportDependencies {
  /** @default process.env (AWS_REGION, AWS_DEFAULT_REGION and the credential variables) */
  readonly env?: NodeJS.ProcessEnv;
  /** @default createCredentialSource(env) */
  readonly credentials?: CredentialSource;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Error bodies are small JSON documents; more than this of one is not read. */
const MAX_ERROR_BODY_BYTES = 16 * 1024;

/**
 * The management API over plain HTTP (`PUSHLINE_MANAGEMENT_CLIENT=http`): `POST` and `DELETE` on
 * `{callbackUrl}/@connections/{id}`, each request signed with SigV4 for `execute-api` and sent over a
 * keep-alive agent. Error answers become {@link ManagementApiError}s named as the SDK names them.
 * The region and URL are checked here, at cold start.
 */
export function createHttpTransport(
  options: TransportOptions,
  dependencies: HttpTransportDependencies = {},
): ManagementTransport {
  const env = dependencies.env ?? process.env;
  const url = parseCallbackUrl(options.callbackUrl);
  const region = regionOf(env, url.hostname);
  const credentials = dependencies.credentials ?? createCredentialSource(env);
  const now = dependencies.now ?? Date.now;
  const signer = createSigV4Signer(region, 'execute-api');
  const secure = url.protocol === 'https:';
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets };
  const agent = secure ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  const request = secure ? httpsRequest : httpRequest;
  const host = url.host;
  const basePath = `${url.pathname.replace(/\/+$/, '')}/@connections/`;
  // The canonical URI of every request is this prefix and the id encoded twice: computed once.
  const canonicalBase = canonicalPath(basePath);
  const onTimeout = (req: ReturnType<typeof httpRequest>, what: string) => () =>
    req.destroy(new ManagementApiTimeoutError(`The management API ${what}.`));

  const send = async (method: 'POST' | 'DELETE', connectionId: string, body: string): Promise<void> => {
    const encodedId = escapeUri(connectionId);
    const path = basePath + encodedId;
    const canonicalUri = canonicalBase + escapeUri(encodedId);
    const signed = signer.sign({ method, host, path, canonicalUri, body }, await credentials(), now());
    return new Promise<void>((resolve, reject) => {
      const req = request(
        {
          agent,
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port,
          method,
          path,
          headers: {
            host,
            ...(method === 'POST'
              ? { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(body) }
              : {}),
            ...signed,
          },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            res.on('end', () => {
              clearTimeout(timer);
              resolve();
            });
            res.resume();
            return;
          }
          readErrorBody(res).then(
            (text) => {
              clearTimeout(timer);
              reject(errorOf(status, res, text));
            },
            (error: unknown) => {
              clearTimeout(timer);
              reject(error);
            },
          );
        },
      );
      const timer = setTimeout(
        onTimeout(req, `did not answer within ${options.requestTimeoutMs} ms`),
        options.requestTimeoutMs,
      );
      req.on('socket', (socket) => {
        // Only a new socket connects; a kept-alive one is ready at once.
        if (!socket.connecting) return;
        const connectTimer = setTimeout(
          onTimeout(req, `could not be reached within ${options.connectionTimeoutMs} ms`),
          options.connectionTimeoutMs,
        );
        socket.once('connect', () => clearTimeout(connectTimer));
        socket.once('close', () => clearTimeout(connectTimer));
      });
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      req.end(body);
    });
  };

  return {
    postToConnection: (connectionId, data) => send('POST', connectionId, data),
    deleteConnection: (connectionId) => send('DELETE', connectionId, ''),
  };
}

function parseCallbackUrl(callbackUrl: string): URL {
  let url: URL;
  try {
    url = new URL(callbackUrl);
  } catch {
    throw new ConfigError(`The callback URL "${callbackUrl}" is not a URL.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`The callback URL "${callbackUrl}" must be https (or http, locally).`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new ConfigError(`The callback URL "${callbackUrl}" must have no query string or fragment.`);
  }
  return url;
}

/**
 * The region to sign for: AWS_REGION (Lambda sets it), else AWS_DEFAULT_REGION, else the one in an
 * `{api}.execute-api.{region}.amazonaws.com` host.
 */
function regionOf(env: NodeJS.ProcessEnv, hostname: string): string {
  const region =
    env.AWS_REGION ||
    env.AWS_DEFAULT_REGION ||
    /\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(hostname)?.[1];
  if (region === undefined) {
    throw new ConfigError('AWS_REGION is not set and the callback URL names no region: cannot sign posts.');
  }
  return region;
}

function readErrorBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      if (size < MAX_ERROR_BODY_BYTES) chunks.push(chunk);
      size += chunk.length;
    });
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY_BYTES)));
    res.on('error', reject);
  });
}

/**
 * The error of an answer, named as the SDK's restJson1 protocol names it: the `x-amzn-ErrorType`
 * header, else the body's `code`, else its `__type`, cleaned of any `:…` suffix and `…#` namespace;
 * `Unknown` when none is there (real API Gateway answers always carry the header).
 */
export function errorOf(
  status: number,
  res: Pick<IncomingMessage, 'headers'>,
  bodyText: string,
): ManagementApiError {
  const body = parseJsonObject(bodyText);
  const header = res.headers['x-amzn-errortype'];
  const raw =
    (typeof header === 'string' && header !== '' ? header : undefined) ??
    stringField(body, 'code') ??
    stringField(body, '__type');
  const name = raw === undefined ? 'Unknown' : cleanErrorName(raw);
  const message = stringField(body, 'message') ?? `HTTP ${status}`;
  const requestId = res.headers['x-amzn-requestid'];
  return new ManagementApiError(name, message, status, typeof requestId === 'string' ? requestId : undefined);
}

/** `aws.protocols#Foo:http://…` → `Foo`, as the SDK's sanitizeErrorCode does. */
export function cleanErrorName(raw: string): string {
  let name = raw.split(',')[0] as string;
  name = name.split(':')[0] as string;
  if (name.includes('#')) name = name.split('#')[1] as string;
  return name;
}

function parseJsonObject(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A non-empty string field, found with any letter case (as the SDK finds `code`; `message` or `Message`). */
function stringField(body: Record<string, unknown>, key: string): string | undefined {
  const lower = key.toLowerCase();
  for (const [name, value] of Object.entries(body)) {
    if (name.toLowerCase() === lower && typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}
