import { readFileSync } from 'node:fs';
/**
 * One Lambda function instance, run in a worker thread. Loading this module is the cold start:
 * it imports the handler module once, then serves one invocation at a time for as long as
 * the parent keeps the worker.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { ErrorPayload, InvokeMessage, WorkerData, WorkerMessage } from './worker-messages.ts';

const data = workerData as WorkerData;
const port = parentPort;
if (port === null) throw new Error('worker.ts must run in a worker thread.');

/** Lambda's `context` argument, without the deprecated done/succeed/fail methods. */
interface LambdaContext {
  callbackWaitsForEmptyEventLoop: boolean;
  readonly functionName: string;
  readonly functionVersion: string;
  readonly invokedFunctionArn: string;
  readonly memoryLimitInMB: string;
  readonly awsRequestId: string;
  readonly logGroupName: string;
  readonly logStreamName: string;
  getRemainingTimeInMillis(): number;
}

type Handler = (
  event: unknown,
  context: LambdaContext,
  callback?: (error: unknown, result?: unknown) => void,
) => unknown;

function post(message: WorkerMessage): void {
  port?.postMessage(message);
}

/** Mirrors the Node.js runtime's error serialization: Error → name/message/stack, else typeof/String. */
function toErrorPayload(error: unknown): ErrorPayload {
  if (error instanceof Error) {
    return {
      errorType: error.name || 'Error',
      errorMessage: error.message,
      trace: (error.stack ?? '').split('\n'),
    };
  }
  return { errorType: typeof error, errorMessage: String(error), trace: [] };
}

// Like the Node.js runtime, an error nobody catches ends the instance; the parent fails the
// invocation in flight and replaces the instance.
process.on('unhandledRejection', (reason) => {
  const error = toErrorPayload(reason);
  post({ type: 'crash', error: { ...error, errorType: 'Runtime.UnhandledPromiseRejection' } });
  process.exit(128);
});
process.on('uncaughtException', (error) => {
  post({ type: 'crash', error: toErrorPayload(error) });
  process.exit(129);
});

async function loadHandler(): Promise<Handler | ErrorPayload> {
  let module: Record<string, unknown>;
  try {
    module = (await import(data.entryUrl)) as Record<string, unknown>;
  } catch (error) {
    const payload = toErrorPayload(error);
    const notFound = (error as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND';
    return notFound ? { ...payload, errorType: 'Runtime.ImportModuleError' } : payload;
  }
  // A CommonJS module imported from ESM exposes its exports on `default` as well.
  const fromDefault = (module.default as Record<string, unknown> | undefined)?.[data.handler];
  const handler = module[data.handler] ?? fromDefault;
  if (typeof handler !== 'function') {
    return {
      errorType: 'Runtime.HandlerNotFound',
      errorMessage: `${data.entryUrl}.${data.handler} is undefined or not exported`,
      trace: [],
    };
  }
  return handler as Handler;
}

function runHandler(handler: Handler, event: unknown, context: LambdaContext): Promise<unknown> {
  // Callback-style handlers (three parameters) are still supported by nodejs22.x.
  if (handler.length >= 3) {
    return new Promise((resolve, reject) => {
      const maybePromise = handler(event, context, (error, result) =>
        error ? reject(error) : resolve(result),
      );
      if (maybePromise instanceof Promise) maybePromise.then(resolve, reject);
    });
  }
  return Promise.resolve().then(() => handler(event, context));
}

/**
 * CPU time this thread has used, in nanoseconds, where Linux tells it (/proc/thread-self/schedstat,
 * read synchronously so that it is this thread's and not a thread-pool thread's); else undefined.
 */
function threadCpuNs(): number | undefined {
  try {
    const used = Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[0]);
    return Number.isFinite(used) ? used : undefined;
  } catch {
    return undefined;
  }
}

async function invoke(handler: Handler, message: InvokeMessage): Promise<void> {
  const cpuBefore = threadCpuNs();
  const cpuNs = () => {
    const after = threadCpuNs();
    return cpuBefore === undefined || after === undefined ? undefined : after - cpuBefore;
  };
  const context: LambdaContext = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: data.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: data.invokedFunctionArn,
    memoryLimitInMB: String(data.memoryLimitInMB),
    awsRequestId: message.requestId,
    logGroupName: data.logGroupName,
    logStreamName: data.logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, message.deadlineMs - Date.now()),
  };
  try {
    const result = await runHandler(handler, JSON.parse(message.payload), context);
    let payload: string;
    try {
      payload = JSON.stringify(result === undefined ? null : result);
    } catch (error) {
      post({
        type: 'error',
        requestId: message.requestId,
        error: { ...toErrorPayload(error), errorType: 'Runtime.MarshalError' },
      });
      return;
    }
    post({ type: 'result', requestId: message.requestId, payload, cpuNs: cpuNs() });
  } catch (error) {
    post({ type: 'error', requestId: message.requestId, error: toErrorPayload(error), cpuNs: cpuNs() });
  }
}

const loaded = await loadHandler();
if (typeof loaded === 'function') {
  port.on('message', (message: InvokeMessage) => {
    if (message.type === 'invoke') void invoke(loaded, message);
  });
  post({ type: 'ready' });
} else {
  post({ type: 'init-error', error: loaded });
}
