/**
 * Mobile push in the local stack: the platform applications the template names are created on the
 * local SNS at start, with dummy credentials (nothing is sent to Apple or Google: the SNS emulator
 * records each push, see docs/local-runtime.md). With `mobilePushTypes` in the context and no
 * `mobilePushApplications`, the stack names local applications `pushline-apns` (APNS) and
 * `pushline-gcm` (GCM).
 */
import type { Topology } from '../emulator/topology.ts';
import { ENV } from '../functions/shared/environment.ts';
import { applicationsText, PUSH_PLATFORMS, parseApplications } from '../functions/shared/mobile-push.ts';

/** Names of the local applications created when the context names none. */
export const LOCAL_PUSH_APPLICATIONS = { APNS: 'pushline-apns', GCM: 'pushline-gcm' } as const;

/** Dummy credentials: SNS requires them, the emulator keeps them and never returns them. */
const DUMMY_CREDENTIALS: Record<string, Record<string, string>> = {
  APNS: { PlatformPrincipal: 'local-certificate', PlatformCredential: 'local-private-key' },
  APNS_SANDBOX: { PlatformPrincipal: 'local-certificate', PlatformCredential: 'local-private-key' },
  GCM: { PlatformCredential: '{"type":"service_account","private_key":"local"}' },
};

/** The context with local applications named when it asks for mobile push types and names none. */
export function localMobilePushContext(
  context: Record<string, string> | undefined,
  region: string,
  accountId: string,
): Record<string, string> | undefined {
  if (!context?.mobilePushTypes || context.mobilePushApplications) return context;
  const arn = (platform: string, name: string) =>
    `arn:aws:sns:${region}:${accountId}:app/${platform}/${name}`;
  return {
    ...context,
    mobilePushApplications: applicationsText({
      APNS: arn('APNS', LOCAL_PUSH_APPLICATIONS.APNS),
      GCM: arn('GCM', LOCAL_PUSH_APPLICATIONS.GCM),
    }),
  };
}

/** Creates on the local SNS every platform application a function's environment names. */
export async function createLocalPlatformApplications(
  topology: Topology,
  awsUrl: string,
  region: string,
): Promise<string[]> {
  const arns = new Set<string>();
  for (const fn of topology.functions) {
    const text = fn.environment?.[ENV.pushApplications];
    if (text === undefined) continue;
    const applications = parseApplications(text);
    if (typeof applications === 'string') throw new Error(`${ENV.pushApplications}: ${applications}`);
    for (const platform of PUSH_PLATFORMS) {
      const arn = applications[platform];
      if (arn !== undefined) arns.add(arn);
    }
  }
  if (arns.size === 0) return [];
  const { CreatePlatformApplicationCommand, SNSClient } = await import('@aws-sdk/client-sns');
  const sns = new SNSClient({
    endpoint: awsUrl,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    for (const arn of arns) {
      const [platform = '', name = ''] = (arn.split(':')[5] ?? '').split('/').slice(1);
      const created = await sns.send(
        new CreatePlatformApplicationCommand({
          Name: name,
          Platform: platform,
          Attributes: DUMMY_CREDENTIALS[platform] ?? {},
        }),
      );
      if (created.PlatformApplicationArn !== arn) {
        throw new Error(
          `The platform application ${arn} is not one the local SNS can hold (it would be ${created.PlatformApplicationArn}); name it in region ${region}, account of the local stack.`,
        );
      }
    }
  } finally {
    sns.destroy();
  }
  return [...arns];
}
