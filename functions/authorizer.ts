import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { loadAuthConfig } from './auth/auth-config.ts';
import { createTokenVerifier, extractToken } from './auth/token-verifier.ts';
import { logger } from './lib/observability.ts';
import { InvalidTokenError } from './shared/errors.ts';
import { SUBPROTOCOL } from './shared/protocol.ts';

const verifyToken = createTokenVerifier(await loadAuthConfig());

/**
 * REQUEST authorizer of `$connect`: the token's `sub` becomes the connection's user id.
 * No token → 401 (thrown 'Unauthorized'); a bad or expired one → Deny (403). Tokens are never logged.
 */
export async function handler(event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const token = extractToken(event.queryStringParameters, event.headers, [SUBPROTOCOL]);
  if (token === undefined) throw new Error('Unauthorized');
  try {
    const userId = await verifyToken(token);
    return policy(userId, 'Allow', event.methodArn, { userId });
  } catch (error) {
    if (!(error instanceof InvalidTokenError)) throw error;
    logger.info('Connection refused', { reason: error.message });
    return policy('anonymous', 'Deny', event.methodArn);
  }
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
