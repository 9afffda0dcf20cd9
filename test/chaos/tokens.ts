/**
 * Token attacks on `$connect`, each answered with the HTTP status AWS would give (the stack checks
 * issuer `pushline-local` and audience `pushline-chaos`), and JWKS key rotation on the real token
 * verifier against a JWKS server on a loopback port.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { createTokenVerifier } from '../../functions/auth/token-verifier.ts';
import { SUBPROTOCOL } from '../../functions/shared/protocol.ts';
import { LOCAL_JWT_SECRET } from '../../local/tokens.ts';
import type { Target } from '../support/target.ts';
import { refusedStatus } from '../support/ws-client.ts';
import { progressPrinter, SectionRecorder, type SectionReport } from './report.ts';

/** What the chaos stack checks; pass it as the stack's context. */
export const CHAOS_AUTH_CONTEXT = { issuer: 'pushline-local', audience: 'pushline-chaos' } as const;

const SECRET = new TextEncoder().encode(LOCAL_JWT_SECRET);
const now = () => Math.floor(Date.now() / 1000);

interface Claims {
  sub?: string;
  iss?: string;
  aud?: string;
  exp?: number;
  nbf?: number;
  [claim: string]: unknown;
}

/** The claims of a good token; an attack changes some. */
const good = (): Claims => ({
  sub: 'chaos-token-user',
  iss: CHAOS_AUTH_CONTEXT.issuer,
  aud: CHAOS_AUTH_CONTEXT.audience,
  exp: now() + 600,
});

function sign(claims: Claims, key: Uint8Array = SECRET, alg = 'HS256'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).setIssuedAt().sign(key);
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An attack: how the token travels, and the status it must get (101: the connection opens). */
interface Attack {
  readonly name: string;
  readonly token: () => Promise<string | undefined>;
  readonly via?: 'query' | 'protocol';
  readonly expect: number;
}

const ATTACKS: readonly Attack[] = [
  { name: 'a good token (control)', token: () => sign(good()), expect: 101 },
  {
    name: 'a good token in the subprotocol (control)',
    token: () => sign(good()),
    via: 'protocol',
    expect: 101,
  },
  { name: 'no token', token: async () => undefined, expect: 401 },
  { name: 'not a JWT', token: async () => 'not-a-jwt', expect: 403 },
  {
    name: 'signed with another secret',
    token: () => sign(good(), new TextEncoder().encode('x'.repeat(48))),
    expect: 403,
  },
  {
    name: 'alg none, unsigned',
    token: async () => `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(good())}.`,
    expect: 403,
  },
  {
    name: 'HS512 with the right secret (not the allowed HS256)',
    token: () => sign(good(), SECRET, 'HS512'),
    expect: 403,
  },
  {
    name: 'payload changed after signing (sub swapped)',
    token: async () => {
      const [header, , signature] = (await sign(good())).split('.');
      return `${header}.${base64url({ ...good(), sub: 'someone-else' })}.${signature}`;
    },
    expect: 403,
  },
  { name: 'expired a minute ago', token: () => sign({ ...good(), exp: now() - 60 }), expect: 403 },
  { name: 'not valid for an hour (nbf)', token: () => sign({ ...good(), nbf: now() + 3600 }), expect: 403 },
  { name: 'wrong issuer', token: () => sign({ ...good(), iss: 'https://evil.example' }), expect: 403 },
  { name: 'wrong audience', token: () => sign({ ...good(), aud: 'another-app' }), expect: 403 },
  { name: 'no audience', token: () => sign({ ...good(), aud: undefined }), expect: 403 },
  {
    name: 'no exp (the deployer did not opt in)',
    token: () => sign({ ...good(), exp: undefined }),
    expect: 403,
  },
  { name: 'no sub', token: () => sign({ ...good(), sub: undefined }), expect: 403 },
  { name: 'empty sub', token: () => sign({ ...good(), sub: '' }), expect: 403 },
  {
    name: '16 KB token in the query (URL over 4,096 characters)',
    token: () => sign({ ...good(), padding: 'p'.repeat(16 * 1024) }),
    expect: 414,
  },
  {
    name: '16 KB of garbage in the subprotocol',
    token: async () => 'g'.repeat(16 * 1024),
    via: 'protocol',
    expect: 403,
  },
  {
    name: 'validly signed, granting topics past the 8 KB authorizer result',
    token: () =>
      sign({ ...good(), topics: Array.from({ length: 400 }, (_, i) => `team.${i}.notifications.*`) }),
    via: 'protocol',
    expect: 403,
  },
];

export async function runTokens(target: Target, options: { jwksRotation: boolean }): Promise<SectionReport> {
  const recorder = new SectionRecorder(
    'token attacks',
    `${ATTACKS.length} kinds of token on $connect (forged, alg none, expired, not yet valid, wrong issuer or audience, no exp, no sub, oversized, too many grants)${options.jwksRotation ? ', and JWKS key rotation on the verifier' : ''}`,
  );
  const progress = progressPrinter('tokens');
  const url = target.outputs.WebSocketUrl;
  for (const attack of ATTACKS) {
    const token = await attack.token();
    const via = attack.via ?? 'query';
    const status = await statusOf(url, token, via);
    recorder.set(`${attack.name}: HTTP status`, status);
    recorder.check(status === attack.expect, `${attack.name}: got ${status}, expected ${attack.expect}`);
    progress(`${attack.name}: ${status}`, true);
  }
  if (options.jwksRotation) await jwksRotation(recorder, progress);
  return recorder.report();
}

/** 101 when the connection opens, else the refusing status (0: the socket was reset). */
async function statusOf(url: string, token: string | undefined, via: 'query' | 'protocol'): Promise<number> {
  const target = token !== undefined && via === 'query' ? `${url}?token=${encodeURIComponent(token)}` : url;
  const protocols = token !== undefined && via === 'protocol' ? [SUBPROTOCOL, token] : [];
  try {
    const status = await refusedStatus(target, { protocols });
    return status;
  } catch (error) {
    if ((error as Error).message === 'the handshake was accepted') return 101;
    return 0;
  }
}

/**
 * Key rotation as an identity provider does it: tokens signed with key A; then B is published beside
 * A and tokens are signed with B; then A is withdrawn. The verifier must take B tokens once it has
 * refetched the JWKS (jose refetches on an unknown key id, at most once every 30 s), and refuse A
 * tokens once A is gone (after its cache of the set expires or a refetch). A JWKS server that is
 * down refuses tokens rather than crashing.
 */
async function jwksRotation(
  recorder: SectionRecorder,
  progress: (text: string, force?: boolean) => void,
): Promise<void> {
  const issuer = 'https://idp.chaos.local';
  const [a, b] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('ES256')]);
  const publicJwk = async (key: CryptoKey, kid: string): Promise<JWK> => ({
    ...(await exportJWK(key)),
    kid,
    alg: 'ES256',
    use: 'sig',
  });
  const jwkA = await publicJwk(a.publicKey, 'key-a');
  const jwkB = await publicJwk(b.publicKey, 'key-b');
  let published: JWK[] = [jwkA];
  let fetches = 0;
  let down = false;
  const server = createServer((_req, res) => {
    fetches++;
    if (down) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: published }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const port = (server.address() as AddressInfo).port;
    const verify = createTokenVerifier({
      kind: 'jwks',
      jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
      issuer,
    });
    const token = (key: CryptoKey, kid: string) =>
      new SignJWT({ sub: 'rotating-user' })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer(issuer)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(key);
    const accepted = async (jwt: string) =>
      verify(jwt).then(
        () => true,
        () => false,
      );

    const step = (name: string, holds: boolean) => {
      recorder.set(`JWKS: ${name} (1 = yes)`, holds ? 1 : 0);
      recorder.check(holds, `JWKS: ${name}`);
      progress(`${name}: ${holds ? 'ok' : 'FAILED'}`, true);
    };
    step('a key-A token is accepted', await accepted(await token(a.privateKey, 'key-a')));
    published = [jwkA, jwkB];
    // jose refetches for an unknown kid only 30 s after the last fetch: wait out that cooldown.
    progress('waiting 31 s for the verifier’s refetch cooldown', true);
    await new Promise((resolve) => setTimeout(resolve, 31_000));
    step('after rotation, a key-B token is accepted', await accepted(await token(b.privateKey, 'key-b')));
    step('a token with an unknown key id is refused', !(await accepted(await token(b.privateKey, 'key-x'))));
    published = [jwkB];
    await new Promise((resolve) => setTimeout(resolve, 31_000));
    // Forces a refetch (unknown kid), which drops A from the cached set.
    await accepted(await token(b.privateKey, 'key-y'));
    step(
      'once key A is withdrawn, a key-A token is refused',
      !(await accepted(await token(a.privateKey, 'key-a'))),
    );
    down = true;
    const fresh = createTokenVerifier({
      kind: 'jwks',
      jwksUrl: `http://127.0.0.1:${port}/jwks.json`,
      issuer,
    });
    step(
      'with the JWKS server down, tokens are refused (not a crash)',
      !(await fresh(await token(b.privateKey, 'key-b')).then(
        () => true,
        () => false,
      )),
    );
    recorder.count('JWKS fetches', fetches);
  } finally {
    server.close();
  }
}
