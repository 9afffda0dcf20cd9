/**
 * Errors the local AWS side raises to its caller (not the wire errors it sends to SDK clients,
 * which live with each emulator).
 */

export { PortInUseError } from '../errors.ts';

/** The DynamoDB engine could not be started or did not answer in time. */
export class DynamoStartError extends Error {
  override readonly name = 'DynamoStartError';
  readonly code = 'DYNAMO_START_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Asynchronous invocations were still pending when `idle()` gave up waiting. */
export class IdleTimeoutError extends Error {
  override readonly name = 'IdleTimeoutError';
  readonly code = 'IDLE_TIMEOUT';
  constructor(
    readonly timeoutMs: number,
    readonly pending: number,
  ) {
    super(`${pending} asynchronous invocation(s) still pending after ${timeoutMs} ms`);
  }
}

/** The topology given to the AWS endpoint is inconsistent (e.g. a dead-letter queue it does not list). */
export class AwsTopologyError extends Error {
  override readonly name = 'AwsTopologyError';
  readonly code = 'INVALID_TOPOLOGY';
}
