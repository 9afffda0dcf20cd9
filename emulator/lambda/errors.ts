import { FunctionError } from '../topology.ts';

/** A function error as Lambda reports it, keeping the raw `errorMessage` and stack trace apart. */
export class LambdaFunctionError extends FunctionError {
  /** Stable code for narrowing without `instanceof` across module copies. */
  readonly code = 'FUNCTION_ERROR';
  constructor(
    functionName: string,
    errorType: string,
    /** The message the function's error carried, without the function name prefix. */
    readonly errorMessage: string,
    /** Stack trace lines of the function's error, when it had one. */
    readonly trace: readonly string[] = [],
  ) {
    super(functionName, errorType, errorMessage);
  }
}

/** Invoked a function name that the runtime was not given. */
export class UnknownFunctionError extends Error {
  override readonly name = 'UnknownFunctionError';
  readonly code = 'UNKNOWN_FUNCTION';
  constructor(readonly functionName: string) {
    super(`No function named '${functionName}' is defined in this Lambda runtime.`);
  }
}

/** Invoked after `close()`, or an invocation was still queued when the runtime closed. */
export class RuntimeClosedError extends Error {
  override readonly name = 'RuntimeClosedError';
  readonly code = 'RUNTIME_CLOSED';
  constructor(readonly functionName: string) {
    super(`The Lambda runtime is closed; '${functionName}' was not invoked.`);
  }
}

/** The function specs cannot be run (duplicate names, bad limits). */
export class FunctionSpecError extends Error {
  override readonly name = 'FunctionSpecError';
  readonly code = 'INVALID_FUNCTION_SPEC';
}
