import { createRemoteJWKSet, type JWTVerifyOptions, errors as joseErrors, jwtVerify } from 'jose';
import { InvalidTokenError } from '../shared/errors.ts';

/** How tokens are checked: a shared HS256 secret, or the public keys at a JWKS URL. */
export type TokenVerifierConfig =
  | {
      readonly kind: 'secret';
      readonly secret: string;
      readonly issuer?: string;
      readonly audience?: string[];
      /** Accept tokens without `exp` (they never expire). @default false */
      readonly allowNoExpiry?: boolean;
    }
  | {
      readonly kind: 'jwks';
      readonly jwksUrl: string;
      readonly issuer: string;
      readonly audience?: string[];
      /** Accept tokens without `exp` (they never expire). @default false */
      readonly allowNoExpiry?: boolean;
    };

/** What a verified token says: the user id (its `sub`) and every claim. */
export interface VerifiedToken {
  readonly userId: string;
  readonly claims: Readonly<Record<string, unknown>>;
}

/** Verifies a token. */
export type TokenVerifier = (token: string) => Promise<VerifiedToken>;

/** Builds a verifier once per cold start; the JWKS is fetched lazily and cached by jose. */
export function createTokenVerifier(config: TokenVerifierConfig): TokenVerifier {
  const options: JWTVerifyOptions = { clockTolerance: 5 };
  if (config.issuer !== undefined) options.issuer = config.issuer;
  if (config.audience !== undefined && config.audience.length > 0) options.audience = config.audience;
  // A token without an expiry would be good forever; only a deployer's explicit choice allows it.
  if (config.allowNoExpiry !== true) options.requiredClaims = ['exp'];

  const verify =
    config.kind === 'secret'
      ? (token: string) =>
          jwtVerify(token, new TextEncoder().encode(config.secret), { ...options, algorithms: ['HS256'] })
      : (() => {
          const keys = createRemoteJWKSet(new URL(config.jwksUrl));
          return (token: string) => jwtVerify(token, keys, { ...options, algorithms: ['RS256', 'ES256'] });
        })();

  return async (token) => {
    let payload: Awaited<ReturnType<typeof verify>>['payload'];
    try {
      ({ payload } = await verify(token));
    } catch (error) {
      // Only the error's code is kept: the message could quote claims, never the token itself.
      const code = error instanceof joseErrors.JOSEError ? error.code : 'ERR_UNKNOWN';
      // A failed claim check names the claim and why (e.g. "exp missing"), never its value.
      const detail =
        error instanceof joseErrors.JWTClaimValidationFailed ? `: ${error.claim} ${error.reason}` : '';
      throw new InvalidTokenError(`token rejected (${code}${detail})`, { cause: code });
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') {
      throw new InvalidTokenError('token has no subject (sub)');
    }
    return { userId: payload.sub, claims: payload };
  };
}

/**
 * Finds the token in a `$connect` request: `?token=` first, else the `Sec-WebSocket-Protocol` entry
 * that is not one of the known subprotocols (browsers cannot set other headers on a WebSocket).
 */
export function extractToken(
  query: Record<string, string | undefined> | null | undefined,
  headers: Record<string, string | undefined> | null | undefined,
  knownProtocols: readonly string[],
): string | undefined {
  const fromQuery = query?.token;
  if (fromQuery !== undefined && fromQuery !== '') return fromQuery;
  const offered = offeredProtocols(headers);
  return offered.find((protocol) => !knownProtocols.includes(protocol));
}

/** The subprotocols a client offered, from the `Sec-WebSocket-Protocol` header (any letter case). */
export function offeredProtocols(headers: Record<string, string | undefined> | null | undefined): string[] {
  if (!headers) return [];
  const name = Object.keys(headers).find((key) => key.toLowerCase() === 'sec-websocket-protocol');
  const value = name === undefined ? undefined : headers[name];
  if (value === undefined) return [];
  return value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
}
