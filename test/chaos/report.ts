/**
 * What each part of the hostile-input and fault suite reports: what it tried, the figures of what
 * happened, and every failure of an invariant (the first few in full, the rest counted).
 */
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/** The outcome of one part of the suite. */
export interface SectionReport {
  readonly name: string;
  /** One sentence: what was sent or done. */
  readonly tried: string;
  /** Figures: how many of each outcome (e.g. `refused BAD_FRAME: 812`). */
  readonly figures: Record<string, number>;
  /** Invariants that did not hold; empty when the part survived. */
  readonly failures: readonly string[];
  readonly seconds: number;
}

/** Most failure texts kept per part; later ones are counted, not kept. */
const KEPT_FAILURES = 20;

/** Collects one part's figures and failures while it runs. */
export class SectionRecorder {
  readonly figures: Record<string, number> = {};
  readonly #failures: string[] = [];
  #failureCount = 0;
  readonly #started = performance.now();

  constructor(
    readonly name: string,
    readonly tried: string,
  ) {}

  count(figure: string, by = 1): void {
    this.figures[figure] = (this.figures[figure] ?? 0) + by;
  }

  /** Sets a figure that is a value, not a count (a status code, a duration). */
  set(figure: string, value: number): void {
    this.figures[figure] = value;
  }

  fail(failure: string): void {
    this.#failureCount++;
    if (this.#failures.length < KEPT_FAILURES) this.#failures.push(failure);
  }

  /** Fails with `failure` unless `holds`. */
  check(holds: boolean, failure: string): void {
    if (!holds) this.fail(failure);
  }

  report(): SectionReport {
    const failures = [...this.#failures];
    if (this.#failureCount > failures.length)
      failures.push(`… and ${this.#failureCount - failures.length} more`);
    return {
      name: this.name,
      tried: this.tried,
      figures: { ...this.figures },
      failures,
      seconds: Math.round((performance.now() - this.#started) / 100) / 10,
    };
  }
}

/** The reports as a plain-text table for a person. */
export function formatReports(reports: readonly SectionReport[]): string {
  const lines: string[] = [];
  for (const report of reports) {
    const verdict = report.failures.length === 0 ? 'survived' : `FAILED (${report.failures.length})`;
    lines.push(`## ${report.name}: ${verdict} in ${report.seconds} s`, `   tried: ${report.tried}`);
    for (const [figure, value] of Object.entries(report.figures))
      lines.push(`   ${figure.padEnd(48)} ${value.toLocaleString('en-US')}`);
    for (const failure of report.failures) lines.push(`   ✗ ${failure}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** `text` as a JSON string a person can read in a failure, cut after `max` characters. */
export function preview(text: string, max = 160): string {
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/**
 * Receives every message of a queue, 10 at a time, handing each to `handle` and then deleting it,
 * until a receive comes back empty (each waits up to 1 s) or the deadline passes.
 */
export async function drainQueue(
  sqs: SQSClient,
  queueUrl: string,
  handle: (message: Message) => Promise<void> | void,
  deadline = Date.now() + 10_000,
): Promise<void> {
  for (;;) {
    const answer = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
      }),
    );
    const messages = answer.Messages ?? [];
    if (messages.length === 0) return;
    for (const message of messages) await handle(message);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.map((message, i) => ({
          Id: String(i),
          ReceiptHandle: message.ReceiptHandle ?? '',
        })),
      }),
    );
    if (Date.now() > deadline) return;
  }
}

/** Prints progress on stderr, at most once a second unless `force`. */
export function progressPrinter(section: string): (text: string, force?: boolean) => void {
  let last = 0;
  return (text, force = false) => {
    const now = Date.now();
    if (!force && now - last < 1_000) return;
    last = now;
    process.stderr.write(`[chaos] ${section}: ${text}\n`);
  };
}
