/**
 * Messages between the runtime (parent thread) and one function instance (worker thread).
 * Events and results cross as JSON text, as they cross Lambda's Runtime API, so whatever
 * JSON drops (undefined, functions, Date objects) is dropped here too.
 */

/** Data each worker starts with. */
export interface WorkerData {
  /** file: URL of the handler module. */
  readonly entryUrl: string;
  /** Exported handler name. */
  readonly handler: string;
  readonly functionName: string;
  readonly memoryLimitInMB: number;
  readonly invokedFunctionArn: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
}

/** Parent → worker: run one invocation. */
export interface InvokeMessage {
  readonly type: 'invoke';
  readonly requestId: string;
  /** The event as JSON text. */
  readonly payload: string;
  /** Epoch milliseconds after which the parent times the invocation out. */
  readonly deadlineMs: number;
}

/** A serialized error, in the shape of Lambda's error response. */
export interface ErrorPayload {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace: readonly string[];
}

/** Worker → parent messages. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'init-error'; readonly error: ErrorPayload }
  | { readonly type: 'result'; readonly requestId: string; readonly payload: string; readonly cpuNs?: number }
  | {
      readonly type: 'error';
      readonly requestId: string;
      readonly error: ErrorPayload;
      readonly cpuNs?: number;
    }
  | { readonly type: 'crash'; readonly error: ErrorPayload };
