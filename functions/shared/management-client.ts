/**
 * The ways a function can call the stage's management API (`@connections`), chosen with
 * ENV.managementClient: `http` signs each request itself (SigV4) over a keep-alive agent; `sdk` is
 * the AWS SDK's ApiGatewayManagementApiClient. Both honour the same error names and retry rules.
 */
export const MANAGEMENT_CLIENTS = ['http', 'sdk'] as const;

/** One of {@link MANAGEMENT_CLIENTS}. */
export type ManagementClient = (typeof MANAGEMENT_CLIENTS)[number];

/** The default: the one with less CPU per post in bench/deliver-cpu.ts (see bench/results/deliver-cpu.json). */
export const DEFAULT_MANAGEMENT_CLIENT: ManagementClient = 'http';
