import type { AwsCredentials } from './sigv4.ts';

/** Gives the credentials to sign the next request with (cached; refreshed before they expire). */
export type CredentialSource = () => Promise<AwsCredentials>;

/** Temporary credentials are renewed this long before they expire, as the SDK does. */
const EXPIRY_MARGIN_MS = 5 * 60_000;

/**
 * Credentials from the environment Lambda sets (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 * `AWS_SESSION_TOKEN`): read once, as the SDK's first provider does. Without them (or with
 * `AWS_PROFILE` set, which makes the SDK skip the environment too), the SDK's default provider chain
 * (`@aws-sdk/credential-provider-node`), loaded only then, and renewed before `expiration`.
 */
export function createCredentialSource(env: NodeJS.ProcessEnv = process.env): CredentialSource {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (accessKeyId && secretAccessKey && !env.AWS_PROFILE) {
    const sessionToken = env.AWS_SESSION_TOKEN || undefined;
    const fixed = Promise.resolve<AwsCredentials>({ accessKeyId, secretAccessKey, sessionToken });
    return () => fixed;
  }
  return renewing(async () => {
    const { defaultProvider } = await import('@aws-sdk/credential-provider-node');
    return defaultProvider();
  });
}

/**
 * Wraps a provider: one call in flight at a time, its answer kept until EXPIRY_MARGIN_MS before its
 * `expiration`; a failed call is not kept, so the next request asks again.
 */
export function renewing(
  load: () => Promise<() => Promise<AwsCredentials>>,
  now: () => number = Date.now,
): CredentialSource {
  let provider: Promise<() => Promise<AwsCredentials>> | undefined;
  let current: Promise<AwsCredentials> | undefined;
  let expiresAt = Number.POSITIVE_INFINITY;
  return () => {
    if (current !== undefined && now() < expiresAt - EXPIRY_MARGIN_MS) return current;
    provider ??= load().catch((error: unknown) => {
      provider = undefined;
      throw error;
    });
    expiresAt = Number.POSITIVE_INFINITY;
    const pending = provider.then((get) => get());
    current = pending;
    pending.then(
      (credentials) => {
        if (current === pending) expiresAt = credentials.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
      },
      () => {
        if (current === pending) current = undefined;
      },
    );
    return pending;
  };
}
