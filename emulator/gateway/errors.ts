export { PortInUseError } from '../errors.ts';

/** The WebSocket API spec or gateway options cannot be served as given. */
export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';
  readonly code = 'INVALID_GATEWAY_CONFIG';
}
