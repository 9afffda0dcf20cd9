/**
 * Lambda's asynchronous invocation, as SNS uses it: the caller does not wait, a rejected
 * invocation is retried (twice on AWS, after about 1 and 2 minutes; quicker locally), then the
 * event goes to the dead-letter queue with Lambda's DLQ message attributes, or is dropped.
 */
import { randomUUID } from 'node:crypto';
import { FunctionError, type Invoke } from '../topology.ts';
import { IdleTimeoutError } from './errors.ts';
import type { SqsAttributeValue } from './sqs.ts';

/** One event for one function, with where it goes when every attempt fails. */
export interface AsyncDelivery {
  readonly functionName: string;
  readonly event: unknown;
  /** Queue name of the dead-letter queue. */
  readonly deadLetterQueue?: string;
  /** What triggered it, for log lines (e.g. the topic). */
  readonly source: string;
}

/** Counters of the asynchronous invocations. */
export interface AsyncInvokerStats {
  /** Invocation attempts, retries included. */
  readonly invocations: number;
  /** Attempts that rejected. */
  readonly failedInvocations: number;
  /** Events sent to a dead-letter queue after their last attempt failed. */
  readonly deadLettered: number;
  /** Events dropped after their last attempt failed (no DLQ, or the DLQ refused them). */
  readonly dropped: number;
}

/** Options of the asynchronous invoker. */
export interface AsyncInvokerOptions {
  readonly invoke: Invoke;
  /** Delay before each retry; its length is the number of retries. */
  readonly retryDelaysMs: readonly number[];
  /** Sends a dead-letter message; throws when the queue refuses it. */
  readonly deadLetter: (queue: string, body: string, attributes: Record<string, SqsAttributeValue>) => void;
  readonly log: (line: string) => void;
}

/** Lambda's DLQ keeps the first 1 KB of the error message. */
const ERROR_MESSAGE_LIMIT = 1024;

function errorMessage(error: unknown, functionName: string): string {
  if (error instanceof FunctionError) {
    // FunctionError prefixes the function's own message; the DLQ carries the function's message.
    const prefix = `${functionName} failed: ${error.errorType}: `;
    return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
  }
  return error instanceof Error ? error.message : String(error);
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

/** Runs deliveries in the background with Lambda's retry and dead-letter rules. */
export class AsyncInvoker {
  private pending = 0;
  private closed = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly idleWaiters = new Set<() => void>();
  private counters = { invocations: 0, failedInvocations: 0, deadLettered: 0, dropped: 0 };

  constructor(private readonly options: AsyncInvokerOptions) {}

  /** Queues a delivery; it starts after the current request has been answered. */
  submit(delivery: AsyncDelivery): void {
    if (this.closed) return;
    this.pending += 1;
    const requestId = randomUUID();
    this.schedule(0, () => this.attempt(delivery, requestId, 0));
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

  private async attempt(delivery: AsyncDelivery, requestId: string, attempt: number): Promise<void> {
    if (this.closed) return;
    const { functionName } = delivery;
    const attempts = this.options.retryDelaysMs.length + 1;
    this.counters.invocations += 1;
    try {
      await this.options.invoke(functionName, delivery.event);
      if (this.closed) return;
      this.finish();
    } catch (error) {
      if (this.closed) return;
      this.counters.failedInvocations += 1;
      const message = errorMessage(error, functionName);
      const delay = this.options.retryDelaysMs[attempt];
      if (delay !== undefined) {
        this.options.log(
          `[lambda] ${functionName} (from ${delivery.source}) attempt ${attempt + 1}/${attempts} failed: ${message}; retrying in ${delay} ms`,
        );
        this.schedule(delay, () => this.attempt(delivery, requestId, attempt + 1));
        return;
      }
      this.giveUp(delivery, requestId, message, attempts);
      this.finish();
    }
  }

  private giveUp(delivery: AsyncDelivery, requestId: string, message: string, attempts: number): void {
    const { functionName, deadLetterQueue } = delivery;
    if (deadLetterQueue === undefined) {
      this.counters.dropped += 1;
      this.options.log(
        `[lambda] ${functionName} (from ${delivery.source}) failed ${attempts} times, no dead-letter queue: event dropped. Last error: ${message}`,
      );
      return;
    }
    try {
      // Lambda's DLQ message: the event unchanged as the body, the failure in three attributes.
      this.options.deadLetter(deadLetterQueue, JSON.stringify(delivery.event), {
        RequestID: { DataType: 'String', StringValue: requestId },
        // A function error is an invoke that answered 200 with X-Amz-Function-Error set.
        ErrorCode: { DataType: 'Number', StringValue: '200' },
        ErrorMessage: {
          DataType: 'String',
          StringValue: truncateUtf8(message, ERROR_MESSAGE_LIMIT) || 'Unknown',
        },
      });
      this.counters.deadLettered += 1;
      this.options.log(
        `[lambda] ${functionName} (from ${delivery.source}) failed ${attempts} times: event sent to dead-letter queue ${deadLetterQueue}. Last error: ${message}`,
      );
    } catch (error) {
      this.counters.dropped += 1;
      this.options.log(
        `[lambda] ${functionName} (from ${delivery.source}) failed ${attempts} times and dead-letter queue ${deadLetterQueue} refused the event (${error instanceof Error ? error.message : String(error)}): event dropped`,
      );
    }
  }

  private finish(): void {
    this.pending = Math.max(0, this.pending - 1);
    if (this.pending === 0) for (const waiter of [...this.idleWaiters]) waiter();
  }
}
