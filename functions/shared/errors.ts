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
export class InvalidEnvelopeError extends PushlineError {
  constructor(readonly reason: string) {
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
