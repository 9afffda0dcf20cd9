/** Base of Pushline's typed errors: a stable `code` to branch on, never the message text. */
export class PushlineError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A required environment variable is missing or malformed: the cold start fails with this. */
export class ConfigError extends PushlineError {
  constructor(message: string) {
    super('CONFIG', message);
  }
}

/** A published envelope failed validation; `reason` says why (kept with the rejected message). */
/**
 * Why an envelope was refused, a stable code beside the reason text: `NOT_JSON` (the SNS message is
 * not JSON), `INVALID_FIELDS` (a field is missing, unknown or wrong), `TOO_LARGE` (its frame would
 * pass API Gateway's 128 KB, or its stored row DynamoDB's item size), `NOT_ALLOWED` (a valid
 * order this deployment refuses: muting a mandatory type, a push platform it does not serve).
 */
export type RejectionCode = 'NOT_JSON' | 'INVALID_FIELDS' | 'TOO_LARGE' | 'NOT_ALLOWED';

export class InvalidEnvelopeError extends PushlineError {
  constructor(
    readonly reason: string,
    readonly rejection: RejectionCode = 'INVALID_FIELDS',
  ) {
    super('INVALID_ENVELOPE', `Invalid envelope: ${reason}`);
  }
}

/** A client frame could not be understood; answered with an error frame, the connection stays open. */
export class InvalidFrameError extends PushlineError {
  constructor(
    readonly frameCode: 'BAD_FRAME' | 'UNKNOWN_ACTION' | 'INVALID_REQUEST' | 'NOT_IMPLEMENTED',
    message: string,
    readonly action?: string,
  ) {
    super(frameCode, message);
  }
}

/** A token was missing, malformed, expired or signed by someone else. */
export class InvalidTokenError extends PushlineError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_TOKEN', message, options);
  }
}
