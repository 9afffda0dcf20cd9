/**
 * Timeout of the deliver function, shared by the CDK code (which sets it) and the inbox (whose lease
 * and resume look-back must outlast any one delivery attempt).
 */
export const DELIVER_TIMEOUT_SECONDS = 50;
