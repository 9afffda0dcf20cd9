/** A port the emulator was asked to bind is already taken; the message says how to free or change it. */
export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
  readonly code = 'PORT_IN_USE';
  constructor(
    readonly host: string,
    readonly port: number,
    readonly service: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${service}: port ${port} on ${host} is already in use. Stop whatever holds it ` +
        `(\`lsof -i :${port}\` or \`ss -ltnp 'sport = :${port}'\` shows it), or pick another port ` +
        '(0 picks a free one).',
      options,
    );
  }
}
