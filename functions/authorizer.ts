import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { loadAuthConfig } from './auth/auth-config.ts';
import { createTokenVerifier, extractToken } from './auth/token-verifier.ts';
import { optionalEnv } from './lib/config.ts';
import { logger } from './lib/observability.ts';
import { ENV } from './shared/environment.ts';
import { InvalidTokenError } from './shared/errors.ts';
import { SUBPROTOCOL } from './shared/protocol.ts';
import { DEFAULT_TOPIC_CLAIM, topicPatternProblem } from './shared/topics.ts';

const verifyToken = createTokenVerifier(await loadAuthConfig());
const topicClaim = optionalEnv(ENV.topicClaim) ?? DEFAULT_TOPIC_CLAIM;
/** API Gateway's quota on an authorizer's result (its JSON); a larger one fails the `$connect`. */
const MAX_RESULT_BYTES = 8 * 1024;

/**
 * REQUEST authorizer of `$connect`: the token's `sub` becomes the connection's user id, and its
 * topics claim (names or prefixes ending in `*`) the topics the connection may subscribe to.
 * No token → 401 (thrown 'Unauthorized'); a bad or expired one → Deny (403), and so is one whose
 * topic grants would not fit API Gateway's 8 KB authorizer result. Tokens are never logged.
 */
export async function handler(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const token = extractToken(event.queryStringParameters, event.headers, [SUBPROTOCOL]);
  if (token === undefined) throw new Error('Unauthorized');
  try {
    const { userId, claims } = await verifyToken(token);
    const topics = topicGrants(claims[topicClaim]).join(' ');
    const allow = policy(userId, 'Allow', event.methodArn, { userId, topics });
    const bytes = Buffer.byteLength(JSON.stringify(allow));
    if (bytes > MAX_RESULT_BYTES) {
      // API Gateway would answer 500 to a result this large; a refusal that says why is better.
      logger.warn('Connection refused: the token grants too many topics', {
        reason: `the authorizer result would be ${bytes} bytes, over API Gateway's ${MAX_RESULT_BYTES}`,
      });
      return policy('anonymous', 'Deny', event.methodArn);
    }
    return allow;
  } catch (error) {
    if (!(error instanceof InvalidTokenError)) throw error;
    logger.info('Connection refused', { reason: error.message });
    return policy('anonymous', 'Deny', event.methodArn);
  }
}

/** The valid patterns of a topics claim (an array of strings); others are left out, with a log line. */
function topicGrants(claim: unknown): string[] {
  if (claim === undefined) return [];
  const patterns = Array.isArray(claim) ? claim : [claim];
  const valid = patterns.filter(
    (pattern): pattern is string => typeof pattern === 'string' && topicPatternProblem(pattern) === undefined,
  );
  if (valid.length !== patterns.length) {
    logger.warn('Token topics claim has entries that are not topic patterns; they grant nothing', {
      claim: topicClaim,
      ignored: patterns.length - valid.length,
    });
  }
  return valid;
}

function policy(
  principalId: string,
  effect: 'Allow' | 'Deny',
  resource: string,
  context?: Record<string, string>,
): APIGatewayAuthorizerResult {
  return {
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
    ...(context ? { context } : {}),
  };
}
