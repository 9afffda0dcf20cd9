import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SignJWT } from 'jose';
import { createTokenVerifier, extractToken } from '../../functions/auth/token-verifier.ts';
import { InvalidTokenError } from '../../functions/shared/errors.ts';
import { LOCAL_JWT_SECRET, mintLocalToken } from '../../local/tokens.ts';

const verify = createTokenVerifier({ kind: 'secret', secret: LOCAL_JWT_SECRET });

describe('token verifier', () => {
  it('returns the subject of a valid token', async () => {
    assert.equal((await verify(await mintLocalToken('alice'))).userId, 'alice');
  });

  it('rejects an expired token', async () => {
    const token = await mintLocalToken('alice', { expiresInSeconds: -60 });
    await assert.rejects(
      verify(token),
      (error: unknown) => error instanceof InvalidTokenError && /expired/i.test(error.message),
    );
  });

  it('rejects a token signed with another secret, without quoting the token', async () => {
    const token = await mintLocalToken('alice', { secret: 'x'.repeat(40) });
    await assert.rejects(verify(token), (error: unknown) => {
      assert.ok(error instanceof InvalidTokenError);
      assert.ok(!error.message.includes(token));
      return true;
    });
  });

  it('checks the issuer when one is configured', async () => {
    const strict = createTokenVerifier({
      kind: 'secret',
      secret: LOCAL_JWT_SECRET,
      issuer: 'https://issuer.example',
    });
    await assert.rejects(strict(await mintLocalToken('alice')), InvalidTokenError);
  });

  it('refuses a validly signed token without exp, naming the missing claim', async () => {
    const token = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject('alice')
      .setIssuedAt()
      .sign(new TextEncoder().encode(LOCAL_JWT_SECRET));
    await assert.rejects(
      verify(token),
      (error: unknown) => error instanceof InvalidTokenError && /exp missing/.test(error.message),
    );

    // Only a deployer's explicit choice lets such a token in.
    const lenient = createTokenVerifier({ kind: 'secret', secret: LOCAL_JWT_SECRET, allowNoExpiry: true });
    assert.equal((await lenient(token)).userId, 'alice');
  });

  it('rejects garbage', async () => {
    await assert.rejects(verify('not-a-jwt'), InvalidTokenError);
  });
});

describe('extractToken', () => {
  it('prefers the query string', () => {
    assert.equal(
      extractToken({ token: 'q' }, { 'Sec-WebSocket-Protocol': 'pushline.v1, p' }, ['pushline.v1']),
      'q',
    );
  });

  it('takes the subprotocol entry that is not a known protocol', () => {
    assert.equal(
      extractToken({}, { 'sec-websocket-protocol': 'pushline.v1, abc.def.ghi' }, ['pushline.v1']),
      'abc.def.ghi',
    );
  });

  it('finds nothing when neither carries a token', () => {
    assert.equal(extractToken(null, { 'Sec-WebSocket-Protocol': 'pushline.v1' }, ['pushline.v1']), undefined);
  });
});
