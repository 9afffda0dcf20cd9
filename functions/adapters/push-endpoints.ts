import {
  CreatePlatformEndpointCommand,
  DeleteEndpointCommand,
  GetEndpointAttributesCommand,
  PublishCommand,
  SetEndpointAttributesCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { InvalidPushTokenError, type PushEndpoints } from '../domain/mobile-push.ts';

/**
 * Created once per cold start; endpoint and region from the SDK's standard configuration. A call
 * that hangs fails (and the SDK's retries decide) rather than holding the delivery to its timeout.
 */
const sns = new SNSClient({
  requestHandler: new NodeHttpHandler({
    connectionTimeout: 3_000,
    requestTimeout: 5_000,
    // Without it, @smithy/node-http-handler 4.x only logs a warning when requestTimeout passes.
    throwOnRequestTimeout: true,
  }),
});

/** The SDK's error name, for errors it recognized (SDK v3 errors carry `name`). */
function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** SNS platform endpoints (mobile push) through the SNS API. */
export function createPushEndpoints(): PushEndpoints {
  return {
    async create(applicationArn, token) {
      try {
        const answer = await sns.send(
          new CreatePlatformEndpointCommand({ PlatformApplicationArn: applicationArn, Token: token }),
        );
        if (answer.EndpointArn === undefined)
          throw new Error('CreatePlatformEndpoint returned no EndpointArn');
        return answer.EndpointArn;
      } catch (error) {
        // The application exists (the deployer named it), so an invalid parameter is the token.
        if (errorName(error) === 'InvalidParameterException') {
          throw new InvalidPushTokenError('SNS refused the device token.', { cause: error });
        }
        throw error;
      }
    },
    async describe(endpointArn) {
      try {
        const answer = await sns.send(new GetEndpointAttributesCommand({ EndpointArn: endpointArn }));
        const attributes = answer.Attributes ?? {};
        return {
          ...(attributes.CustomUserData ? { userId: attributes.CustomUserData } : {}),
          enabled: attributes.Enabled?.toLowerCase() === 'true',
          token: attributes.Token ?? '',
        };
      } catch (error) {
        if (errorName(error) === 'NotFoundException') return undefined;
        throw error;
      }
    },
    async assign(endpointArn, userId, token) {
      await sns.send(
        new SetEndpointAttributesCommand({
          EndpointArn: endpointArn,
          Attributes: { CustomUserData: userId, Enabled: 'true', Token: token },
        }),
      );
    },
    async publish(endpointArn, message, attributes) {
      try {
        await sns.send(
          new PublishCommand({
            TargetArn: endpointArn,
            Message: message,
            MessageStructure: 'json',
            MessageAttributes: Object.fromEntries(
              Object.entries(attributes).map(([name, value]) => [
                name,
                { DataType: 'String', StringValue: value },
              ]),
            ),
          }),
        );
        return 'sent';
      } catch (error) {
        const name = errorName(error);
        if (name === 'EndpointDisabledException') return 'disabled';
        if (name === 'NotFoundException') return 'gone';
        throw error;
      }
    },
    async remove(endpointArn) {
      await sns.send(new DeleteEndpointCommand({ EndpointArn: endpointArn }));
    },
  };
}
