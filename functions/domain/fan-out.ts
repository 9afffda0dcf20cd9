/** How one post to one connection ended. */
export type PostOutcome = 'delivered' | 'gone' | 'failed';

/** Outcome of one target with the target itself, so callers can act on each (e.g. prune gone ones). */
export interface TargetOutcome<T> {
  readonly target: T;
  readonly outcome: PostOutcome;
  readonly error?: unknown;
}

/** Totals of a fan-out. */
export interface FanOutSummary<T> {
  readonly delivered: number;
  readonly gone: number;
  readonly failed: number;
  readonly outcomes: readonly TargetOutcome<T>[];
}

/**
 * Runs `post` for every target with at most `concurrency` in flight.
 * Never throws for one target: a rejected post counts as 'failed' and the others go on.
 */
export async function fanOut<T>(
  targets: readonly T[],
  post: (target: T) => Promise<PostOutcome>,
  concurrency: number,
): Promise<FanOutSummary<T>> {
  const outcomes: TargetOutcome<T>[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    while (next < targets.length) {
      const index = next++;
      const target = targets[index] as T;
      try {
        outcomes[index] = { target, outcome: await post(target) };
      } catch (error) {
        outcomes[index] = { target, outcome: 'failed', error };
      }
    }
  };
  const workers = Math.max(1, Math.min(concurrency, targets.length));
  await Promise.all(Array.from({ length: workers }, worker));
  let delivered = 0;
  let gone = 0;
  let failed = 0;
  for (const { outcome } of outcomes) {
    if (outcome === 'delivered') delivered++;
    else if (outcome === 'gone') gone++;
    else failed++;
  }
  return { delivered, gone, failed, outcomes };
}

/**
 * A limit of `concurrency` tasks in flight shared by tasks started at different times (first come,
 * first run): e.g. the posts of users whose connections are known one by one.
 */
export function createLimiter(concurrency: number): <R>(task: () => Promise<R>) => Promise<R> {
  const limit = Math.max(1, concurrency);
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <R>(task: () => Promise<R>): Promise<R> => {
    // A finished task hands its slot straight to the next one waiting, so the limit is never passed.
    if (active < limit) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next === undefined) active--;
      else next();
    }
  };
}

/** Runs `task` over items with bounded concurrency and returns results in order; rejects on the first error. */
export async function mapBounded<T, R>(
  items: readonly T[],
  task: (item: T) => Promise<R>,
  concurrency: number,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  return results;
}

/** One item's result from {@link settleBounded}. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** Like mapBounded, but runs every item and reports each result or error instead of stopping. */
export async function settleBounded<T, R>(
  items: readonly T[],
  task: (item: T) => Promise<R>,
  concurrency: number,
): Promise<Settled<R>[]> {
  return mapBounded(
    items,
    async (item): Promise<Settled<R>> => {
      try {
        return { ok: true, value: await task(item) };
      } catch (error) {
        return { ok: false, error };
      }
    },
    concurrency,
  );
}
