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
