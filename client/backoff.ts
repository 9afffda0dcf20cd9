/** How reconnect attempts are spaced. */
export interface ReconnectOptions {
  /** Upper bound of the first delay. @default 1000 */
  readonly initialDelayMs?: number;
  /** No delay is longer than this. @default 30000 */
  readonly maxDelayMs?: number;
  /** Growth of the upper bound per failed attempt. @default 2 */
  readonly factor?: number;
  /** A connection that stayed up this long resets the attempt count. @default 30000 */
  readonly stableAfterMs?: number;
}

/** The defaults of {@link ReconnectOptions}. */
export const DEFAULT_RECONNECT = {
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  factor: 2,
  stableAfterMs: 30_000,
} as const satisfies Required<ReconnectOptions>;

/**
 * Delay before reconnect attempt number `attempt` (0 for the first): "full jitter", a uniform draw
 * between 0 and min(maxDelayMs, initialDelayMs * factor^attempt). Clients cut off together (a
 * deploy, the 2-hour limit) then come back spread out instead of all at once.
 */
export function backoffDelay(
  attempt: number,
  options: ReconnectOptions = {},
  random: () => number = Math.random,
): number {
  const initial = options.initialDelayMs ?? DEFAULT_RECONNECT.initialDelayMs;
  const max = options.maxDelayMs ?? DEFAULT_RECONNECT.maxDelayMs;
  const factor = options.factor ?? DEFAULT_RECONNECT.factor;
  const ceiling = Math.min(max, initial * factor ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}
