import { SignJWT } from 'jose';
import { DEFAULT_TOPIC_CLAIM } from '../functions/shared/topics.ts';

/**
 * The HS256 secret the local stack's authorizer accepts. Local use only: a deployed stack
 * reads its secret from Secrets Manager or verifies tokens against a JWKS URL.
 */
export const LOCAL_JWT_SECRET = 'pushline-local-development-secret-not-for-production';

/** Options for {@link mintLocalToken}. */
export interface MintOptions {
  /** HS256 secret. @default LOCAL_JWT_SECRET */
  readonly secret?: string;
  /** Lifetime in seconds; negative values make an already expired token (for tests). @default 3600 */
  readonly expiresInSeconds?: number;
  /** `iss` claim. @default 'pushline-local' */
  readonly issuer?: string;
  /** `aud` claim. @default none */
  readonly audience?: string;
  /** `topics` claim: the topics (names or prefixes ending in `*`) the user may subscribe to. */
  readonly topics?: readonly string[];
  /** Claim `topics` goes under, for a stack whose construct names another topic claim. @default DEFAULT_TOPIC_CLAIM */
  readonly topicClaim?: string;
}

/** Signs a token for `userId` (its `sub`) that the local stack accepts. */
export async function mintLocalToken(userId: string, options: MintOptions = {}): Promise<string> {
  if (userId.trim() === '') throw new Error('A user id is required to mint a token.');
  const now = Math.floor(Date.now() / 1000);
  const claims =
    options.topics !== undefined ? { [options.topicClaim ?? DEFAULT_TOPIC_CLAIM]: [...options.topics] } : {};
  const token = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(options.issuer ?? 'pushline-local')
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 3600));
  if (options.audience !== undefined) token.setAudience(options.audience);
  return token.sign(new TextEncoder().encode(options.secret ?? LOCAL_JWT_SECRET));
}
