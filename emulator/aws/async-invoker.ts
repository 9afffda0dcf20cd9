/**
 * Lambda's asynchronous invocation, as SNS uses it: the caller does not wait, a rejected
 * invocation is retried (`MaximumRetryAttempts`, two by default, after 1 and 2 minutes on AWS) while
 * the event is younger than `MaximumEventAgeInSeconds`; then the event goes to the function's
 * dead-letter queue (the event, with Lambda's DLQ attributes) and to its on-failure destination
 * (Lambda's invocation record), or is dropped when it has neither.
 */
import { randomUUID } from 'node:crypto';
import { LambdaFunctionError } from '../lambda/errors.ts';
import {
  type AsyncInvokeConfig,
  FunctionError,
  type Invoke,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
} from '../topology.ts';
import { IdleTimeoutError } from './errors.ts';
import type { SqsAttributeValue } from './sqs.ts';

/** One event for one function, with what Lambda does when its attempts fail. */
export interface AsyncDelivery extends AsyncInvokeConfig {
  readonly functionName: string;
  readonly event: unknown;
  /** What triggered it, for log lines (e.g. the topic). */
  readonly source: string;
}

/** Why Lambda gave up on an event, as its invocation record names it. */
type GiveUpCondition = 'RetriesExhausted' | 'EventAgeExceeded';

/** Counters of the asynchronous invocations. */
export interface AsyncInvokerStats {
  /** Invocation attempts, retries included. */
  readonly invocations: number;
  /** Attempts that rejected. */
  readonly failedInvocations: number;
  /** Events sent to a dead-letter queue or an on-failure destination after their last attempt failed. */
  readonly deadLettered: number;
  /** Events dropped after their last attempt failed (neither a DLQ nor a destination took them). */
  readonly dropped: number;
}

/** Options of the asynchronous invoker. */
export interface AsyncInvokerOptions {
  readonly invoke: Invoke;
  /**
   * Delay before each retry (AWS: 1 and 2 minutes). Its length also caps the retries, below the
   * function's `maximumRetryAttempts`.
   */
  readonly retryDelaysMs: readonly number[];
  /** Sends a message to a queue (dead letter or invocation record); throws when the queue refuses it. */
  readonly deadLetter: (queue: string, body: string, attributes: Record<string, SqsAttributeValue>) => void;
  readonly log: (line: string) => void;
  /** The clock event ages are measured with. @default Date.now */
  readonly now?: () => number;
}

/** Lambda's defaults for an asynchronous invocation. */
const DEFAULT_RETRY_ATTEMPTS = 2;
const DEFAULT_EVENT_AGE_SECONDS = 21_600;

/** What one failed attempt answered, for the dead-letter attributes and the invocation record. */
interface Failure {
  readonly errorType: string;
  readonly errorMessage: string;
  readonly trace: readonly string[];
}

/** Lambda's DLQ keeps the first 1 KB of the error message. */
const ERROR_MESSAGE_LIMIT = 1024;

function failureOf(error: unknown, functionName: string): Failure {
  if (error instanceof LambdaFunctionError)
    return { errorType: error.errorType, errorMessage: error.errorMessage, trace: error.trace };
  if (error instanceof FunctionError) {
    // FunctionError prefixes the function's own message; the DLQ carries the function's message.
    const prefix = `${functionName} failed: ${error.errorType}: `;
    const message = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
    return { errorType: error.errorType, errorMessage: message, trace: [] };
  }
  return {
    errorType: error instanceof Error ? error.name : typeof error,
    errorMessage: error instanceof Error ? error.message : String(error),
    trace: [],
  };
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Dropping a trailing partial character keeps the value valid UTF-8.
  return bytes
    .subarray(0, maxBytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}

/** One event on its way: the delivery, its request id across attempts, and when it arrived. */
interface Run {
  readonly delivery: AsyncDelivery;
  readonly requestId: string;
  readonly submittedAt: number;
}

/** What an on-failure destination receives (Lambda's "invocation record"). */
export interface InvocationRecord {
  readonly version: '1.0';
  readonly timestamp: string;
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    readonly condition: GiveUpCondition;
    readonly approximateInvokeCount: number;
  };
  readonly requestPayload: unknown;
  readonly responseContext: {
    readonly statusCode: number;
    readonly executedVersion: string;
    readonly functionError: 'Unhandled';
  };
  readonly responsePayload: {
    readonly errorType: string;
    readonly errorMessage: string;
    readonly trace: string[];
  };
}

/** Runs deliveries in the background with Lambda's retry, event-age and dead-letter rules. */
export class AsyncInvoker {
  private pending = 0;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly idleWaiters = new Set<() => void>();
  private counters = { invocations: 0, failedInvocations: 0, deadLettered: 0, dropped: 0 };

  private readonly now: () => number;

  constructor(private readonly options: AsyncInvokerOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Queues a delivery; it starts after the current request has been answered. */
  submit(delivery: AsyncDelivery): void {
    if (this.closed) return;
    this.pending += 1;
    const run: Run = { delivery, requestId: randomUUID(), submittedAt: this.now() };
    this.schedule(0, () => this.attempt(run, 0));
  }

  /** Counters so far. */
  stats(): AsyncInvokerStats {
    return { ...this.counters };
  }

  /** Resolves when nothing is pending; rejects with `IdleTimeoutError` after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.idleWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(() => {
        this.idleWaiters.delete(done);
        reject(new IdleTimeoutError(timeoutMs, this.pending));
      }, timeoutMs);
      this.idleWaiters.add(done);
    });
  }

  /** Cancels every retry not yet started; results of running invocations are ignored. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.pending = 0;
    for (const waiter of [...this.idleWaiters]) waiter();
  }

  private schedule(ms: number, run: () => Promise<void>): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void run();
    }, ms);
    this.timers.add(timer);
  }

  private async attempt(run: Run, attempt: number): Promise<void> {
    if (this.closed) return;
    const { delivery } = run;
    const { functionName } = delivery;
    this.counters.invocations += 1;
    try {
      await this.options.invoke(functionName, delivery.event);
      if (this.closed) return;
      this.finish();
    } catch (error) {
      if (this.closed) return;
      this.counters.failedInvocations += 1;
      const failure = failureOf(error, functionName);
      const retries = Math.min(
        delivery.maximumRetryAttempts ?? DEFAULT_RETRY_ATTEMPTS,
        this.options.retryDelaysMs.length,
      );
      const delay = this.options.retryDelaysMs[attempt];
      if (attempt < retries && delay !== undefined) {
        this.options.log(
          `[lambda] ${functionName} (from ${delivery.source}) attempt ${attempt + 1}/${retries + 1} failed: ${failure.errorMessage}; retrying in ${delay} ms`,
        );
        this.schedule(delay, () => this.retry(run, attempt + 1, failure));
        return;
      }
      this.giveUp(run, 'RetriesExhausted', attempt + 1, failure);
      this.finish();
    }
  }

  /** A retry, unless the event has grown older than the function's maximum event age. */
  private async retry(run: Run, attempt: number, last: Failure): Promise<void> {
    const maxAgeMs = (run.delivery.maximumEventAgeSeconds ?? DEFAULT_EVENT_AGE_SECONDS) * 1000;
    if (this.now() - run.submittedAt > maxAgeMs) {
      if (this.closed) return;
      this.giveUp(run, 'EventAgeExceeded', attempt, last);
      this.finish();
      return;
    }
    await this.attempt(run, attempt);
  }

  private giveUp(run: Run, condition: GiveUpCondition, invokeCount: number, failure: Failure): void {
    const { functionName, deadLetterQueue, onFailureQueue, source } = run.delivery;
    const why = `${condition === 'RetriesExhausted' ? `failed ${invokeCount} times` : `older than its maximum event age after ${invokeCount} attempts`}. Last error: ${failure.errorMessage}`;
    if (deadLetterQueue === undefined && onFailureQueue === undefined) {
      this.counters.dropped += 1;
      this.options.log(
        `[lambda] ${functionName} (from ${source}) ${why}; no dead-letter queue or on-failure destination: event dropped`,
      );
      return;
    }
    // With both, Lambda sends to both: the event to the dead-letter queue, the record to the destination.
    const sent: string[] = [];
    const refused: string[] = [];
    const send = (queue: string, body: string, attributes: Record<string, SqsAttributeValue>) => {
      try {
        this.options.deadLetter(queue, body, attributes);
        sent.push(queue);
      } catch (error) {
        refused.push(`${queue} (${error instanceof Error ? error.message : String(error)})`);
      }
    };
    if (deadLetterQueue !== undefined) {
      send(deadLetterQueue, JSON.stringify(run.delivery.event), {
        RequestID: { DataType: 'String', StringValue: run.requestId },
        // A function error is an invoke that answered 200 with X-Amz-Function-Error set.
        ErrorCode: { DataType: 'Number', StringValue: '200' },
        ErrorMessage: {
          DataType: 'String',
          StringValue: truncateUtf8(failure.errorMessage, ERROR_MESSAGE_LIMIT) || 'Unknown',
        },
      });
    }
    if (onFailureQueue !== undefined)
      send(onFailureQueue, JSON.stringify(this.invocationRecord(run, condition, invokeCount, failure)), {});
    if (sent.length > 0) this.counters.deadLettered += 1;
    else this.counters.dropped += 1;
    this.options.log(
      `[lambda] ${functionName} (from ${source}) ${why}; ${sent.length > 0 ? `sent to ${sent.join(' and ')}` : 'event dropped'}${refused.length > 0 ? `; refused by ${refused.join(', ')}` : ''}`,
    );
  }

  /** Lambda's invocation record, as an on-failure destination receives it. */
  private invocationRecord(
    run: Run,
    condition: GiveUpCondition,
    invokeCount: number,
    failure: Failure,
  ): InvocationRecord {
    const { functionName } = run.delivery;
    return {
      version: '1.0',
      timestamp: new Date(this.now()).toISOString(),
      requestContext: {
        requestId: run.requestId,
        functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${functionName}:$LATEST`,
        condition,
        approximateInvokeCount: invokeCount,
      },
      requestPayload: run.delivery.event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: {
        errorType: failure.errorType,
        errorMessage: failure.errorMessage,
        trace: [...failure.trace],
      },
    };
  }

  private finish(): void {
    this.pending = Math.max(0, this.pending - 1);
    if (this.pending === 0) for (const waiter of [...this.idleWaiters]) waiter();
  }
}
