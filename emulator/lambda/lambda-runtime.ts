/**
 * A local Lambda runtime: every function instance is a worker thread with its own environment
 * and module graph, so module-scope code runs once per instance (a cold start), one invocation
 * runs at a time per instance, and instances are created on demand up to a concurrency limit.
 * It knows nothing of the app it runs.
 */
import { randomUUID } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname, resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { type FunctionSpec, type Invoke, LOCAL_ACCOUNT, LOCAL_REGION } from '../topology.ts';
import {
  FunctionSpecError,
  LambdaFunctionError,
  RuntimeClosedError,
  UnknownFunctionError,
} from './errors.ts';
import type { ErrorPayload, InvokeMessage, WorkerData, WorkerMessage } from './worker-messages.ts';

/** Options of {@link LambdaRuntime}. */
export interface LambdaRuntimeOptions {
  /** The functions this runtime can invoke. */
  readonly functions: readonly FunctionSpec[];
  /**
   * Variables every function gets (endpoint variables, region, credentials); a function's own
   * `environment` overrides them. The parent process's environment is never inherited.
   */
  readonly baseEnvironment?: Readonly<Record<string, string>>;
  /** Receives each line a function writes to stdout/stderr, prefixed with `[functionName]`. @default stdout */
  readonly log?: (line: string) => void;
  /**
   * Lambda runs every function in UTC (`TZ=:UTC`). A time zone is process-wide in Node (a worker
   * cannot have its own), so with `'UTC'` the runtime switches the whole process to UTC when it is
   * constructed; `'host'` leaves the process, and the functions, in the host's time zone.
   * @default 'UTC'
   */
  readonly timeZone?: 'UTC' | 'host';
  /**
   * Watch the folders of the functions' entries (recursively) and {@link LambdaRuntime.reload} on
   * any change, so an edited handler runs from its next invocation on. @default false
   */
  readonly reloadOnChange?: boolean;
}

/** Counters of one function since the runtime started. */
export interface FunctionStats {
  /** Invocations accepted (including those that failed). */
  readonly invocations: number;
  /** Invocations that ended in an error: thrown, timed out, crashed, or failed to initialize. */
  readonly errors: number;
  /** Instances created, i.e. module-scope code runs. */
  readonly coldStarts: number;
  /**
   * Event-loop active time of the function's instances in milliseconds, summed over every instance
   * it ever had (`worker.performance.eventLoopUtilization().active`). It is the time the instance
   * was running JavaScript or callbacks, not idle waiting on I/O: a proxy for billed CPU time. It
   * includes the cold-start import.
   */
  readonly busyMs: number;
  /**
   * CPU time the invocations used on their threads, in milliseconds (Linux only, from
   * /proc/thread-self/schedstat; 0 elsewhere). Unlike `busyMs`, it excludes time spent waiting
   * for a core and the cold-start import.
   */
  readonly cpuMs: number;
  /** The function's configured memory (the template's `MemorySize`, else Lambda's 128 MB). */
  readonly memorySizeMb: number;
  /**
   * Wall time of the invocations in milliseconds, from the event handed to an instance to its
   * result, error or timeout (Lambda's `Duration`; queueing for a free instance not included).
   */
  readonly durationMs: number;
  /** The same, each invocation rounded up to a whole millisecond, as Lambda bills it. */
  readonly billedDurationMs: number;
  /** Billed duration times memory: GB-seconds, Lambda's duration meter (cold-start init not included). */
  readonly gbSeconds: number;
}

/** Lambda's memory size when a function sets none; workers are not limited to it. */
const DEFAULT_MEMORY_MB = 128;
/** Lambda allows 10 s for the init phase; a worker also has to compile TypeScript, hence the margin. */
const INIT_LIMIT_MS = 10_000;
/** Lambda's default when a function sets no timeout (a template without `Timeout`). */
const DEFAULT_TIMEOUT_SECONDS = 3;
const DEFAULT_MAX_CONCURRENCY = 4;
const WORKER_ENTRY = new URL('./worker-entry.mjs', import.meta.url);

/** Faults injected into a function's invocations, for fault tests (`LambdaRuntime.setFaults`). */
export interface FunctionFaults {
  /**
   * Share of invocations (0 to 1) whose instance crashes part way, as a process killed mid-work:
   * the invocation fails with `Runtime.ExitError` and the instance is replaced. @default 0
   */
  readonly crashRate?: number;
  /** A crashing invocation dies at a random moment within this many ms of its start. @default 50 */
  readonly crashWithinMs?: number;
}

interface PendingInvocation {
  readonly requestId: string;
  readonly payload: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
}

interface Instance {
  readonly worker: Worker;
  state: 'starting' | 'idle' | 'busy' | 'dead';
  current: PendingInvocation | undefined;
  timer: NodeJS.Timeout | undefined;
  /** performance.now() when the invocation in flight was handed to the instance. */
  invokedAt: number;
  /** Last known event-loop active time, kept because a terminated worker reports zero. */
  lastActiveMs: number;
  /** Called once the module has loaded (used by `warm`). */
  onReady?: () => void;
  /** The pool's code generation it loaded; an older one is replaced when it next goes idle. */
  readonly generation: number;
}

interface Pool {
  readonly spec: FunctionSpec;
  readonly environment: Record<string, string>;
  readonly timeoutMs: number;
  readonly maxConcurrency: number;
  readonly instances: Set<Instance>;
  readonly queue: PendingInvocation[];
  invocations: number;
  errors: number;
  coldStarts: number;
  /** Active time of instances that are gone. */
  retiredBusyMs: number;
  /** CPU time of the invocations, where the platform reports it. */
  cpuNs: number;
  readonly memorySizeMb: number;
  durationMs: number;
  billedDurationMs: number;
  faults: FunctionFaults;
  /** Bumped by `reload()`: instances of an older generation run old code. */
  generation: number;
}

/** Runs Lambda handlers locally, each function instance in its own worker thread. */
export class LambdaRuntime {
  readonly #pools = new Map<string, Pool>();
  readonly #log: (line: string) => void;
  readonly #watchers: FSWatcher[] = [];
  #closed = false;

  constructor(options: LambdaRuntimeOptions) {
    this.#log = options.log ?? ((line) => process.stdout.write(`${line}\n`));
    const utc = (options.timeZone ?? 'UTC') === 'UTC';
    if (utc) useUtc();
    if (options.reloadOnChange === true) this.#watch(options.functions);
    for (const spec of options.functions) {
      if (this.#pools.has(spec.name))
        throw new FunctionSpecError(`Function '${spec.name}' is defined twice.`);
      const timeoutSeconds = spec.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS;
      const maxConcurrency = spec.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
      if (!(timeoutSeconds > 0))
        throw new FunctionSpecError(`'${spec.name}': timeoutSeconds must be positive.`);
      const memory = spec.memorySizeMb;
      if (memory !== undefined && !(Number.isInteger(memory) && memory >= 128 && memory <= 10_240))
        throw new FunctionSpecError(`'${spec.name}': memorySizeMb must be an integer from 128 to 10240.`);
      if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
        throw new FunctionSpecError(`'${spec.name}': maxConcurrency must be a positive integer.`);
      }
      this.#pools.set(spec.name, {
        spec,
        environment: functionEnvironment(spec, options.baseEnvironment ?? {}, utc),
        timeoutMs: timeoutSeconds * 1000,
        maxConcurrency,
        instances: new Set(),
        queue: [],
        invocations: 0,
        errors: 0,
        coldStarts: 0,
        retiredBusyMs: 0,
        cpuNs: 0,
        memorySizeMb: spec.memorySizeMb ?? DEFAULT_MEMORY_MB,
        durationMs: 0,
        billedDurationMs: 0,
        faults: {},
        generation: 0,
      });
    }
  }

  /** Invokes a function synchronously (RequestResponse); rejects with a `FunctionError` when it fails. */
  readonly invoke: Invoke = (functionName, event) => {
    const pool = this.#pools.get(functionName);
    if (pool === undefined) return Promise.reject(new UnknownFunctionError(functionName));
    if (this.#closed) return Promise.reject(new RuntimeClosedError(functionName));
    let payload: string;
    try {
      payload = JSON.stringify(event === undefined ? null : event);
    } catch (error) {
      return Promise.reject(error);
    }
    pool.invocations += 1;
    return new Promise((resolve, reject) => {
      pool.queue.push({
        requestId: randomUUID(),
        payload,
        resolve,
        reject: (error) => {
          pool.errors += 1;
          reject(error);
        },
      });
      this.#pump(pool);
    });
  };

  /** Sets (or, with `{}`, clears) the faults injected into a function's invocations. */
  setFaults(functionName: string, faults: FunctionFaults): void {
    const pool = this.#pools.get(functionName);
    if (pool === undefined) throw new UnknownFunctionError(functionName);
    const rate = faults.crashRate ?? 0;
    if (!(rate >= 0 && rate <= 1)) throw new FunctionSpecError('crashRate must be from 0 to 1.');
    pool.faults = { ...faults };
  }

  /**
   * The functions' code changed: idle instances are replaced now, busy ones once their invocation
   * ends (with the old code), and instances still loading once loaded; every later invocation runs
   * the code on disk. Warm state (module scope, caches) starts afresh, as after a deployment.
   */
  reload(): void {
    for (const pool of this.#pools.values()) {
      pool.generation += 1;
      for (const instance of [...pool.instances]) this.#retireIfStale(pool, instance);
    }
  }

  /** Counters of one function. */
  stats(functionName: string): FunctionStats {
    const pool = this.#pools.get(functionName);
    if (pool === undefined) throw new UnknownFunctionError(functionName);
    let busyMs = pool.retiredBusyMs;
    for (const instance of pool.instances) busyMs += activeMs(instance);
    return {
      invocations: pool.invocations,
      errors: pool.errors,
      coldStarts: pool.coldStarts,
      busyMs,
      cpuMs: pool.cpuNs / 1e6,
      memorySizeMb: pool.memorySizeMb,
      durationMs: pool.durationMs,
      billedDurationMs: pool.billedDurationMs,
      gbSeconds: (pool.billedDurationMs / 1000) * (pool.memorySizeMb / 1024),
    };
  }

  /** Reloads on any change under the entries' folders; a burst of saves makes one reload. */
  #watch(functions: readonly FunctionSpec[]): void {
    const folders = new Set(functions.map((spec) => dirname(resolvePath(spec.entry))));
    let pending: NodeJS.Timeout | undefined;
    for (const folder of folders) {
      const watcher = watch(folder, { recursive: true }, (_event, file) => {
        clearTimeout(pending);
        pending = setTimeout(() => {
          this.#log(
            `[lambda] ${file ?? folder} changed: functions load the new code on their next invocation`,
          );
          this.reload();
        }, RELOAD_DEBOUNCE_MS);
        pending.unref();
      });
      watcher.on('error', (error) => this.#log(`[lambda] watching ${folder} failed: ${error.message}`));
      this.#watchers.push(watcher);
    }
  }

  /** Terminates every instance; queued and running invocations reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const watcher of this.#watchers.splice(0)) watcher.close();
    // Terminating a worker while it evaluates its ES modules can abort the whole process on Node 22
    // (a V8 check failure), so instances still starting are given a bounded time to finish first.
    await Promise.all(
      [...this.#pools.values()].flatMap((pool) =>
        [...pool.instances].filter((instance) => instance.state === 'starting').map(startedOrExited),
      ),
    );
    const exits: Promise<unknown>[] = [];
    for (const pool of this.#pools.values()) {
      for (const pending of pool.queue.splice(0)) pending.reject(new RuntimeClosedError(pool.spec.name));
      for (const instance of [...pool.instances]) {
        const current = instance.current;
        instance.current = undefined;
        current?.reject(new RuntimeClosedError(pool.spec.name));
        exits.push(this.#retire(pool, instance));
      }
    }
    await Promise.allSettled(exits);
  }

  /**
   * Hands queued invocations to idle instances, and starts new instances (up to the concurrency limit)
   * only for invocations that no starting instance will take. Unlike Lambda, a queued invocation is not
   * tied to the instance started for it: a local cold start costs far more than a short wait for a
   * warm instance, and on a small machine a burst of cold starts would starve everything else.
   */
  #pump(pool: Pool): void {
    while (pool.queue.length > 0 && !this.#closed) {
      const idle = [...pool.instances].find((instance) => instance.state === 'idle');
      if (idle === undefined) break;
      this.#run(pool, idle, pool.queue.shift() as PendingInvocation);
    }
    const starting = [...pool.instances].filter((instance) => instance.state === 'starting').length;
    let wanted = pool.queue.length - starting;
    while (wanted > 0 && pool.instances.size < pool.maxConcurrency && !this.#closed) {
      this.#start(pool);
      wanted -= 1;
    }
  }

  /**
   * Starts one instance of each function that has none, and resolves once they are ready (or failed),
   * so that the first requests do not pay the cold starts.
   */
  async warm(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (const pool of this.#pools.values()) {
      if (pool.instances.size > 0 || this.#closed) continue;
      const instance = this.#start(pool);
      ready.push(
        new Promise((resolve) => {
          instance.worker.once('exit', () => resolve());
          instance.onReady = resolve;
        }),
      );
    }
    await Promise.all(ready);
  }

  /** Creates an instance (a cold start); once its module is loaded it takes queued invocations. */
  #start(pool: Pool): Instance {
    const { spec } = pool;
    const workerData: WorkerData = {
      entryUrl: pathToFileURL(resolvePath(spec.entry)).href,
      handler: spec.handler ?? 'handler',
      functionName: spec.name,
      memoryLimitInMB: pool.memorySizeMb,
      invokedFunctionArn: `arn:aws:lambda:${pool.environment.AWS_REGION}:${LOCAL_ACCOUNT}:function:${spec.name}`,
      logGroupName: pool.environment.AWS_LAMBDA_LOG_GROUP_NAME ?? '',
      logStreamName: pool.environment.AWS_LAMBDA_LOG_STREAM_NAME ?? '',
    };
    const worker = new Worker(WORKER_ENTRY, {
      workerData,
      env: { ...pool.environment },
      stdout: true,
      stderr: true,
      name: `lambda:${spec.name}`,
    });
    const instance: Instance = {
      worker,
      state: 'starting',
      current: undefined,
      timer: undefined,
      invokedAt: 0,
      lastActiveMs: 0,
      generation: pool.generation,
    };
    pool.instances.add(instance);
    pool.coldStarts += 1;
    this.#pipeOutput(spec.name, worker);

    instance.timer = setTimeout(() => {
      this.#fail(pool, instance, {
        errorType: 'Sandbox.Timedout',
        errorMessage: `Init phase did not complete within ${(INIT_LIMIT_MS + pool.timeoutMs) / 1000} seconds`,
        trace: [],
      });
    }, INIT_LIMIT_MS + pool.timeoutMs);

    worker.on('message', (message: WorkerMessage) => this.#onMessage(pool, instance, message));
    worker.on('error', (error) => {
      this.#fail(pool, instance, {
        errorType: error.name || 'Error',
        errorMessage: error.message,
        trace: [],
      });
    });
    worker.on('exit', (exitCode) => {
      this.#fail(pool, instance, {
        errorType: 'Runtime.ExitError',
        errorMessage: `Runtime exited with error: exit status ${exitCode}`,
        trace: [],
      });
      pool.instances.delete(instance);
      this.#pump(pool);
    });
    return instance;
  }

  #onMessage(pool: Pool, instance: Instance, message: WorkerMessage): void {
    // A retired instance (timed out, replaced) may still have messages in flight: ignore them.
    if (instance.state === 'dead') return;
    switch (message.type) {
      case 'ready': {
        clearTimeout(instance.timer);
        instance.state = 'idle';
        instance.onReady?.();
        this.#retireIfStale(pool, instance);
        this.#pump(pool);
        return;
      }
      case 'init-error':
      case 'crash':
        this.#fail(pool, instance, message.error);
        return;
      case 'result':
      case 'error': {
        const current = instance.current;
        if (current === undefined || current.requestId !== message.requestId) return;
        if (message.cpuNs !== undefined) pool.cpuNs += message.cpuNs;
        recordDuration(pool, instance);
        clearTimeout(instance.timer);
        instance.current = undefined;
        instance.state = 'idle';
        instance.lastActiveMs = activeMs(instance);
        if (message.type === 'result') current.resolve(JSON.parse(message.payload));
        else current.reject(toFunctionError(pool.spec.name, message.error));
        this.#retireIfStale(pool, instance);
        this.#pump(pool);
        return;
      }
    }
  }

  #run(pool: Pool, instance: Instance, pending: PendingInvocation): void {
    instance.state = 'busy';
    instance.current = pending;
    instance.invokedAt = performance.now();
    const message: InvokeMessage = {
      type: 'invoke',
      requestId: pending.requestId,
      payload: pending.payload,
      deadlineMs: Date.now() + pool.timeoutMs,
    };
    instance.timer = setTimeout(() => {
      this.#fail(pool, instance, {
        errorType: 'Sandbox.Timedout',
        errorMessage: `RequestId: ${pending.requestId} Error: Task timed out after ${(pool.timeoutMs / 1000).toFixed(2)} seconds`,
        trace: [],
      });
    }, pool.timeoutMs);
    instance.worker.postMessage(message);
    if (Math.random() < (pool.faults.crashRate ?? 0)) {
      const crashAfterMs = Math.random() * (pool.faults.crashWithinMs ?? 50);
      setTimeout(() => {
        if (instance.current !== pending) return; // It finished first.
        this.#fail(pool, instance, {
          errorType: 'Runtime.ExitError',
          errorMessage: `RequestId: ${pending.requestId} Error: Runtime exited with error: signal: killed (injected crash)`,
          trace: [],
        });
      }, crashAfterMs).unref();
    }
  }

  /** Fails the instance's invocation in flight (if any) and replaces the instance, as Lambda does. */
  #fail(pool: Pool, instance: Instance, error: ErrorPayload): void {
    if (instance.state === 'dead') return;
    // An init failure fails the invocation that was waiting for this instance, as on Lambda,
    // instead of starting instance after instance for it.
    // An invocation cut by a timeout or a crash is billed up to that moment, as on Lambda.
    if (instance.current !== undefined) recordDuration(pool, instance);
    const current = instance.current ?? (instance.state === 'starting' ? pool.queue.shift() : undefined);
    instance.current = undefined;
    current?.reject(toFunctionError(pool.spec.name, error));
    void this.#retire(pool, instance);
    this.#pump(pool);
  }

  /** Retires an idle instance that loaded code older than `reload()`. */
  #retireIfStale(pool: Pool, instance: Instance): void {
    if (instance.state === 'idle' && instance.generation !== pool.generation)
      void this.#retire(pool, instance);
  }

  /** Terminates an instance, keeping its busy time in the function's totals. */
  async #retire(pool: Pool, instance: Instance): Promise<void> {
    if (instance.state === 'dead') return;
    clearTimeout(instance.timer);
    pool.retiredBusyMs += activeMs(instance);
    instance.state = 'dead';
    pool.instances.delete(instance);
    await instance.worker.terminate();
  }

  #pipeOutput(functionName: string, worker: Worker): void {
    for (const stream of [worker.stdout, worker.stderr]) {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.#log(`[${functionName}] ${line}`);
      });
      stream.on('end', () => {
        if (partial !== '') this.#log(`[${functionName}] ${partial}`);
        partial = '';
      });
    }
  }
}

/**
 * Switches this process to UTC, as Lambda runs functions. Workers share the process's time zone,
 * and Node applies a change of `process.env.TZ` only when the main thread makes it.
 */
function useUtc(): void {
  if (process.env.TZ === 'UTC' || process.env.TZ === ':UTC') return;
  process.env.TZ = 'UTC';
}

/** The worker's whole environment: Lambda's defaults, then the base, then the function's own, then reserved names. */
function functionEnvironment(
  spec: FunctionSpec,
  base: Readonly<Record<string, string>>,
  utc: boolean,
): Record<string, string> {
  const region = spec.environment?.AWS_REGION ?? base.AWS_REGION ?? LOCAL_REGION;
  const logStream = `${new Date().toISOString().slice(0, 10).replaceAll('-', '/')}/[$LATEST]local`;
  return {
    // Lambda always provides credentials (from the execution role); without them the SDK would
    // fall back to probing the instance metadata endpoint.
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_DEFAULT_REGION: region,
    ...(utc ? { TZ: ':UTC' } : {}),
    ...base,
    ...spec.environment,
    AWS_REGION: region,
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
    AWS_LAMBDA_FUNCTION_NAME: spec.name,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memorySizeMb ?? DEFAULT_MEMORY_MB),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
    AWS_LAMBDA_LOG_STREAM_NAME: logStream,
    _HANDLER: `${basename(spec.entry).replace(/\.[cm]?[jt]s$/, '')}.${spec.handler ?? 'handler'}`,
  };
}

/** Adds the invocation in flight on `instance`, ending now, to the function's duration totals. */
function recordDuration(pool: Pool, instance: Instance): void {
  const ms = performance.now() - instance.invokedAt;
  pool.durationMs += ms;
  pool.billedDurationMs += Math.max(1, Math.ceil(ms));
}

function activeMs(instance: Instance): number {
  if (instance.state === 'dead') return 0;
  try {
    // A worker that has exited reports zero (or throws): keep the last value seen.
    const active = instance.worker.performance.eventLoopUtilization().active;
    if (active > instance.lastActiveMs) instance.lastActiveMs = active;
  } catch {}
  return instance.lastActiveMs;
}

function toFunctionError(functionName: string, error: ErrorPayload): LambdaFunctionError {
  return new LambdaFunctionError(functionName, error.errorType, error.errorMessage, error.trace);
}

/** Saves within this long of each other (an editor writing several files) make one reload. */
const RELOAD_DEBOUNCE_MS = 100;

/** Most time close() gives an instance still loading its module before terminating it. */
const CLOSE_INIT_WAIT_MS = 15_000;

/** Resolves once a starting instance is ready or gone, or after CLOSE_INIT_WAIT_MS. */
function startedOrExited(instance: Instance): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_INIT_WAIT_MS);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    const previous = instance.onReady;
    instance.onReady = () => {
      previous?.();
      done();
    };
    instance.worker.once('exit', done);
  });
}
