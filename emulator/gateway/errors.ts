export { PortInUseError } from '../errors.ts';

/** The WebSocket API spec or gateway options cannot be served as given. */
export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';
  readonly code = 'INVALID_GATEWAY_CONFIG';
}

/** A request for simulated connections that cannot be met as given (answered 400 over HTTP). */
export class SimulatedConnectionsError extends Error {
  override readonly name = 'SimulatedConnectionsError';
  readonly code = 'INVALID_SIMULATED_CONNECTIONS';
}
