import { optionalEnv } from '../lib/config.ts';
import { ENV } from '../shared/environment.ts';
import { ConfigError } from '../shared/errors.ts';
import type { TokenVerifierConfig } from './token-verifier.ts';

const audienceList = (raw: string | undefined) =>
  raw
    ?.split(',')
    .map((value) => value.trim())
    .filter((value) => value !== '');

/**
 * Reads the authorizer's configuration: a JWKS URL with issuer (production), a Secrets Manager
 * secret ARN, or a plain secret (local only). Exactly one must be set.
 */
export async function loadAuthConfig(
  fetchSecret: (arn: string) => Promise<string> = fetchSecretString,
): Promise<TokenVerifierConfig> {
  const jwksUrl = optionalEnv(ENV.jwksUrl);
  const secretArn = optionalEnv(ENV.jwtSecretArn);
  const secret = optionalEnv(ENV.jwtSecret);
  const issuer = optionalEnv(ENV.jwtIssuer);
  const audience = audienceList(optionalEnv(ENV.jwtAudience));
  const allowNoExpiryText = optionalEnv(ENV.jwtAllowNoExpiry);
  if (allowNoExpiryText !== undefined && allowNoExpiryText !== 'true' && allowNoExpiryText !== 'false')
    throw new ConfigError(`${ENV.jwtAllowNoExpiry} must be true or false, not "${allowNoExpiryText}".`);
  const allowNoExpiry = allowNoExpiryText === 'true';
  const given = [jwksUrl, secretArn, secret].filter((value) => value !== undefined).length;
  if (given !== 1) {
    throw new ConfigError(
      `Set exactly one of ${ENV.jwksUrl} (with ${ENV.jwtIssuer}), ${ENV.jwtSecretArn} or ${ENV.jwtSecret}; ${given} are set.`,
    );
  }
  if (jwksUrl !== undefined) {
    if (issuer === undefined) throw new ConfigError(`${ENV.jwtIssuer} is required with ${ENV.jwksUrl}.`);
    return { kind: 'jwks', jwksUrl, issuer, audience, allowNoExpiry };
  }
  const key = secretArn !== undefined ? await fetchSecret(secretArn) : (secret as string);
  if (key.length < 32) throw new ConfigError('The HS256 secret must be at least 32 characters long.');
  return { kind: 'secret', secret: key, issuer, audience, allowNoExpiry };
}

async function fetchSecretString(arn: string): Promise<string> {
  // Loaded only when a secret ARN is configured, to keep other cold starts light.
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const result = await new SecretsManagerClient({}).send(new GetSecretValueCommand({ SecretId: arn }));
  if (result.SecretString === undefined) throw new ConfigError(`Secret ${arn} has no string value.`);
  return result.SecretString;
}
