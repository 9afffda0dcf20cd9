import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { reservePort } from '../../local/stack.ts';

/** Binds `port` on loopback: resolves with the error code, or 'bound' (then closes). */
function tryBind(port: number): Promise<string> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve('bound')));
  });
}

/**
 * The local stack picks free ports before its servers bind them. A bare probe (bind, read the
 * port, close) left the port free meanwhile, so DynamoDB Local, choosing its own free port while
 * the stack started, could be given the same one: the AWS endpoint then failed with PORT_IN_USE
 * (seen once in a full suite run). A reservation keeps the port held until its server binds it.
 */
describe('reservePort', () => {
  it('holds a free port until released, so nothing else can bind it meanwhile', async () => {
    const reservation = await reservePort(0, '127.0.0.1');
    assert.ok(reservation.port > 0);

    assert.equal(await tryBind(reservation.port), 'EADDRINUSE');
    await reservation.release();
    await reservation.release(); // idempotent
    assert.equal(await tryBind(reservation.port), 'bound');
  });

  it('takes a given port as it is, holding nothing', async () => {
    const reservation = await reservePort(45_678, '127.0.0.1');
    assert.equal(reservation.port, 45_678);
    await reservation.release();
  });
});
