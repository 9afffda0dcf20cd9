/** The port the gateway was asked to listen on is taken. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  readonly code = 'PORT_IN_USE';
  constructor(
    readonly host: string,
    readonly port: number,
    options?: { cause?: unknown },
  ) {
    super(
      `Port ${port} on ${host} is already in use. Stop the process holding it, or choose another port ` +
        '(the `port` option; 0 picks a free one).',
      options,
    );
  }
}

/** The WebSocket API spec or gateway options cannot be served as given. */
export class GatewayConfigError extends Error {
  override readonly name = 'GatewayConfigError';
  readonly code = 'INVALID_GATEWAY_CONFIG';
}
