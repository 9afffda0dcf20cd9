import type { PostOutcome } from '../domain/fan-out.ts';
import type { ManagementClient } from '../shared/management-client.ts';
import { createHttpTransport } from './management-api-http.ts';

/** Retry settings for throttled (429) and 5xx answers of the management API. */
export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** Default: 4 attempts, full-jitter backoff from 50 ms up to 1 s. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 50, maxDelayMs: 1000 };

/** Connecting may take this long before the attempt fails (and the retry policy decides). */
export const CONNECTION_TIMEOUT_MS = 3_000;
/** One attempt, from sending to the end of the answer, may take this long. */
export const REQUEST_TIMEOUT_MS = 5_000;

const THROTTLING = new Set(['LimitExceededException', 'ThrottlingException', 'TooManyRequestsException']);

/** Posts frames to connections through the stage's management API (`@connections`). */
export interface ConnectionPoster {
  /** Sends one frame; 'gone' when the connection no longer exists; 'failed' after retries. */
  post(connectionId: string, data: string): Promise<PostOutcome>;
  /** Closes a connection; a connection already gone is not an error. */
  disconnect(connectionId: string): Promise<void>;
}

/**
 * One attempt of each management API call, with no retries of its own. Errors are shaped as the
 * SDK shapes them: `name` is AWS's error name (GoneException, LimitExceededException,
 * PayloadTooLargeException, ForbiddenException, …), and an answered call carries
 * `$metadata.httpStatusCode`; a call that got no answer (network error, timeout) carries none.
 */
export interface ManagementTransport {
  postToConnection(connectionId: string, data: string): Promise<void>;
  deleteConnection(connectionId: string): Promise<void>;
}

/** How a transport is built. */
export interface TransportOptions {
  /** The stage's callback URL: `https://{api}.execute-api.{region}.amazonaws.com/{stage}`. */
  readonly callbackUrl: string;
  /** Keep-alive sockets open at most. */
  readonly maxSockets: number;
  /** Connecting may take this long before the attempt fails. */
  readonly connectionTimeoutMs: number;
  /** One attempt, from sending to the end of the answer, may take this long. */
  readonly requestTimeoutMs: number;
}

/** True for answers worth retrying: throttling, 5xx, and network errors with no HTTP answer. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (THROTTLING.has(error.name)) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === undefined ? error.name !== 'GoneException' : status === 429 || status >= 500;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Builds the poster once per cold start from the stage's callback URL, over keep-alive sockets
 * (at most `maxSockets` open). `client` picks the transport: `http` signs each request itself
 * (SigV4, the day's key kept) over a plain agent; `sdk` is the SDK's ApiGatewayManagementApiClient,
 * loaded only when chosen, with its own retries off. Either way this module's retry policy is the
 * only one, and it sees the same error names.
 */
export function createConnectionPoster(
  callbackUrl: string,
  options: { maxSockets: number; client?: ManagementClient; retry?: RetryPolicy },
): ConnectionPoster {
  const transportOptions: TransportOptions = {
    callbackUrl,
    maxSockets: options.maxSockets,
    // A post that hangs must not hold the whole fan-out: it fails, and the retry policy decides.
    connectionTimeoutMs: CONNECTION_TIMEOUT_MS,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
  };
  if ((options.client ?? 'http') === 'http') {
    return posterOver(createHttpTransport(transportOptions), options.retry);
  }
  // A dynamic import, so the SDK client's modules load (and cost init time) only when chosen.
  const sdk = import('./management-api-sdk.ts').then(({ createSdkTransport }) =>
    createSdkTransport(transportOptions),
  );
  return posterOver(
    {
      postToConnection: async (connectionId, data) => (await sdk).postToConnection(connectionId, data),
      deleteConnection: async (connectionId) => (await sdk).deleteConnection(connectionId),
    },
    options.retry,
  );
}

/** The poster's rules over one transport: 410 is 'gone', throttling and 5xx retried with full jitter. */
export function posterOver(
  transport: ManagementTransport,
  retry: RetryPolicy = DEFAULT_RETRY,
): ConnectionPoster {
  return {
    async post(connectionId, data) {
      for (let attempt = 1; ; attempt++) {
        try {
          await transport.postToConnection(connectionId, data);
          return 'delivered';
        } catch (error) {
          if (error instanceof Error && error.name === 'GoneException') return 'gone';
          if (!isRetryable(error) || attempt >= retry.attempts) throw error;
          const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
          await sleep(Math.random() * cap);
        }
      }
    },
    async disconnect(connectionId) {
      try {
        await transport.deleteConnection(connectionId);
      } catch (error) {
        if (!(error instanceof Error && error.name === 'GoneException')) throw error;
      }
    },
  };
}
