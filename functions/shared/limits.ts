/**
 * Timeout of the deliver function, shared by the CDK code (which sets it) and the inbox (whose lease
 * and resume look-back must outlast any one delivery attempt).
 */
export const DELIVER_TIMEOUT_SECONDS = 50;

/**
 * Timeout of the fan-out function; a part claimed longer ago than this belongs to an attempt that
 * died, and the retry of its event takes it over.
 */
export const FANOUT_TIMEOUT_SECONDS = 60;

/** A connection's `send` rate unless the deployer sets another: 10 a second, 20 at once. */
export const DEFAULT_SEND_RATE = { perSecond: 10, burst: 20 } as const;
