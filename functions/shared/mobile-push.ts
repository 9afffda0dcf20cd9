/**
 * Mobile push constants shared by the CDK code, the local runtime, the handlers and the client SDK:
 * the platforms Pushline sends to, how the platform applications travel in the environment, and
 * the limits of device registrations and of what a notification carries.
 */

/** The SNS platforms a device may register with: Apple (production and sandbox) and FCM (`GCM` in SNS). */
export const PUSH_PLATFORMS = ['APNS', 'APNS_SANDBOX', 'GCM'] as const;

/** One of {@link PUSH_PLATFORMS}. */
export type PushPlatform = (typeof PUSH_PLATFORMS)[number];

/** The platform application ARN of each platform the deployment sends to. */
export type PushApplications = Readonly<Partial<Record<PushPlatform, string>>>;

/** Whether a string is one of {@link PUSH_PLATFORMS}. */
export function isPushPlatform(value: string): value is PushPlatform {
  return (PUSH_PLATFORMS as readonly string[]).includes(value);
}

/** Devices one user may register; registering one more drops the least recently registered. */
export const MAX_PUSH_DEVICES = 10;

/**
 * A device row lives this long after its last registration (60 days): apps register again at
 * each launch (tokens change), so a device that has not for two months is presumed gone, as FCM
 * advises for stale tokens.
 */
export const DEVICE_TTL_SECONDS = 60 * 24 * 60 * 60;

/** Longest device token accepted (SNS's limit is 8 KB; APNs tokens are 64 hex, FCM about 160 characters). */
export const MAX_PUSH_TOKEN_LENGTH = 4096;

/** APNs device tokens are hexadecimal (SNS refuses others, and stores them lowercased). */
export const APPLE_TOKEN_PATTERN = /^[0-9a-fA-F]{1,400}$/;

/** Characters of `data.text` (or `data.body`) a notification shows; longer text is cut with `…`. */
export const MAX_PUSH_TEXT = 200;

/** Characters of `data.title` a notification shows. */
export const MAX_PUSH_TITLE = 80;

/** The environment form of the applications: `APNS=arn,GCM=arn` (ARNs hold neither `=` nor `,`). */
export function applicationsText(applications: PushApplications): string {
  return PUSH_PLATFORMS.flatMap((platform) => {
    const arn = applications[platform];
    return arn === undefined ? [] : [`${platform}=${arn}`];
  }).join(',');
}

/** Reads {@link applicationsText}; returns a problem (a string) for an entry it cannot read. */
export function parseApplications(text: string): PushApplications | string {
  const applications: Partial<Record<PushPlatform, string>> = {};
  for (const entry of text.split(',')) {
    const item = entry.trim();
    if (item === '') continue;
    const at = item.indexOf('=');
    const platform = item.slice(0, at).trim();
    const arn = item.slice(at + 1).trim();
    if (at < 1 || !isPushPlatform(platform)) {
      return `"${item}" is not PLATFORM=arn with a platform among ${PUSH_PLATFORMS.join(', ')}`;
    }
    if (!/^arn:[^:]+:sns:[^:]*:[^:]*:app\/[^/]+\/[^/]+$/.test(arn)) {
      return `"${arn}" is not an SNS platform application ARN (arn:aws:sns:{region}:{account}:app/{platform}/{name})`;
    }
    if (arn.split(':')[5]?.split('/')[1] !== platform) {
      return `"${arn}" is an application of another platform than ${platform}`;
    }
    applications[platform] = arn;
  }
  return applications;
}
