import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  CreatePlatformApplicationCommand,
  CreatePlatformEndpointCommand,
  DeleteEndpointCommand,
  DeletePlatformApplicationCommand,
  GetEndpointAttributesCommand,
  GetPlatformApplicationAttributesCommand,
  ListEndpointsByPlatformApplicationCommand,
  ListPlatformApplicationsCommand,
  PublishBatchCommand,
  PublishCommand,
  SetEndpointAttributesCommand,
  SetPlatformApplicationAttributesCommand,
  SNSClient,
} from '@aws-sdk/client-sns';
import { type AwsEndpoint, startAwsEndpoint } from '../../emulator/aws/endpoint.ts';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../../emulator/topology.ts';

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const APNS_CREDENTIALS = {
  PlatformPrincipal: '-----BEGIN CERTIFICATE-----local-----END CERTIFICATE-----',
  PlatformCredential: '-----BEGIN PRIVATE KEY-----local-secret-----END PRIVATE KEY-----',
};
const FCM_CREDENTIALS = { PlatformCredential: '{"type":"service_account","private_key":"local-secret"}' };
/** An APNs device token: 64 hexadecimal characters. */
const apnsToken = (n: number) => n.toString(16).padStart(64, 'a');

type SdkError = Error & { $metadata?: { httpStatusCode?: number } };

/** Asserts the SDK threw AWS's exception `name` with `status`, and the message when given. */
function awsError(name: string, status: number, message?: string | RegExp) {
  return (error: SdkError): boolean => {
    assert.equal(error.name, name);
    assert.equal(error.$metadata?.httpStatusCode, status);
    if (typeof message === 'string') assert.equal(error.message, message);
    else if (message !== undefined) assert.match(error.message, message);
    return true;
  };
}

describe('SNS mobile push on the local AWS endpoint', () => {
  let endpoint: AwsEndpoint;
  let sns: SNSClient;
  let apnsApp: string;
  let fcmApp: string;

  before(async () => {
    endpoint = await startAwsEndpoint({
      port: 0,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      // Never contacted: these scenarios send no DynamoDB request.
      dynamoEndpoint: 'http://127.0.0.1:9',
      topics: [{ name: 'events', subscriptions: [] }],
      queues: [],
      invoke: async () => null,
    });
    sns = new SNSClient({
      endpoint: endpoint.url,
      region: LOCAL_REGION,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      maxAttempts: 1,
    });
    const apns = await sns.send(
      new CreatePlatformApplicationCommand({
        Name: 'ios-app',
        Platform: 'APNS',
        Attributes: APNS_CREDENTIALS,
      }),
    );
    const fcm = await sns.send(
      new CreatePlatformApplicationCommand({
        Name: 'android-app',
        Platform: 'GCM',
        Attributes: FCM_CREDENTIALS,
      }),
    );
    apnsApp = apns.PlatformApplicationArn ?? '';
    fcmApp = fcm.PlatformApplicationArn ?? '';
  });

  after(async () => {
    sns?.destroy();
    await endpoint?.close();
  });

  beforeEach(() => endpoint.sns.clearMobileDeliveries());

  const createEndpoint = async (application: string, token: string, attributes?: Record<string, string>) =>
    (
      await sns.send(
        new CreatePlatformEndpointCommand({
          PlatformApplicationArn: application,
          Token: token,
          ...(attributes ? { Attributes: attributes } : {}),
        }),
      )
    ).EndpointArn ?? '';

  describe('platform applications', () => {
    it('names applications app/{platform}/{name} and never returns their credentials', async () => {
      assert.equal(apnsApp, `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:app/APNS/ios-app`);
      assert.equal(fcmApp, `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:app/GCM/android-app`);

      const { Attributes } = await sns.send(
        new GetPlatformApplicationAttributesCommand({ PlatformApplicationArn: apnsApp }),
      );
      assert.deepEqual(Attributes, { Enabled: 'true' });

      // Not even in the raw XML: neither the attribute names nor their values.
      const raw = await fetch(endpoint.url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          Action: 'GetPlatformApplicationAttributes',
          Version: '2010-03-31',
          PlatformApplicationArn: apnsApp,
        }),
      });
      const xml = await raw.text();
      assert.equal(raw.status, 200);
      for (const secret of ['PlatformCredential', 'PlatformPrincipal', 'local-secret', 'CERTIFICATE']) {
        assert.equal(xml.includes(secret), false, `${secret} is not in the answer`);
      }

      const listed = await sns.send(new ListPlatformApplicationsCommand({}));
      const fcm = listed.PlatformApplications?.find((a) => a.PlatformApplicationArn === fcmApp);
      assert.deepEqual(fcm?.Attributes, { Enabled: 'true' });
    });

    it('sets and returns attributes other than credentials, and keeps the credentials it is given', async () => {
      await sns.send(
        new SetPlatformApplicationAttributesCommand({
          PlatformApplicationArn: fcmApp,
          Attributes: {
            EventDeliveryFailure: `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:events`,
            SuccessFeedbackSampleRate: '50',
            PlatformCredential: '{"rotated":"local-secret-2"}',
          },
        }),
      );
      const { Attributes } = await sns.send(
        new GetPlatformApplicationAttributesCommand({ PlatformApplicationArn: fcmApp }),
      );
      assert.deepEqual(Attributes, {
        Enabled: 'true',
        EventDeliveryFailure: `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:events`,
        SuccessFeedbackSampleRate: '50',
      });
      await assert.rejects(
        sns.send(
          new SetPlatformApplicationAttributesCommand({
            PlatformApplicationArn: fcmApp,
            Attributes: { SuccessFeedbackSampleRate: '101' },
          }),
        ),
        awsError('InvalidParameterException', 400, /SuccessFeedbackSampleRate/),
      );
    });

    it('refuses an application without a name, a known platform or its credentials, saying which', async () => {
      const create = (input: Record<string, unknown>) =>
        sns.send(
          new CreatePlatformApplicationCommand(
            input as unknown as ConstructorParameters<typeof CreatePlatformApplicationCommand>[0],
          ),
        );
      await assert.rejects(
        create({ Platform: 'GCM', Attributes: FCM_CREDENTIALS }),
        awsError(
          'InvalidParameterException',
          400,
          'Invalid parameter: Name Reason: no value for required parameter',
        ),
      );
      await assert.rejects(
        create({ Name: 'app', Attributes: FCM_CREDENTIALS }),
        awsError(
          'InvalidParameterException',
          400,
          'Invalid parameter: Platform Reason: no value for required parameter',
        ),
      );
      await assert.rejects(
        create({ Name: 'app', Platform: 'PIGEON', Attributes: FCM_CREDENTIALS }),
        awsError(
          'InvalidParameterException',
          400,
          /^Invalid parameter: Platform Reason: PIGEON is not supported/,
        ),
      );
      await assert.rejects(
        create({ Name: 'bad name!', Platform: 'GCM', Attributes: FCM_CREDENTIALS }),
        awsError('InvalidParameterException', 400, /^Invalid parameter: Name Reason/),
      );
      await assert.rejects(
        create({ Name: 'app', Platform: 'GCM', Attributes: {} }),
        awsError(
          'InvalidParameterException',
          400,
          'Invalid parameter: Attributes Reason: PlatformCredential is required for GCM',
        ),
      );
      await assert.rejects(
        create({ Name: 'app', Platform: 'APNS_SANDBOX', Attributes: { PlatformCredential: 'key' } }),
        awsError(
          'InvalidParameterException',
          400,
          'Invalid parameter: Attributes Reason: PlatformPrincipal is required for APNS_SANDBOX',
        ),
      );
      await assert.rejects(
        create({ Name: 'app', Platform: 'GCM', Attributes: { ...FCM_CREDENTIALS, Colour: 'blue' } }),
        awsError(
          'InvalidParameterException',
          400,
          'Invalid parameter: Attributes Reason: Invalid attribute name: Colour',
        ),
      );
    });

    it('answers NotFound for an application that does not exist and InvalidParameter for a malformed ARN', async () => {
      const missing = `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:app/GCM/nowhere`;
      const notFound = awsError('NotFoundException', 404, 'PlatformApplication does not exist');
      await assert.rejects(
        sns.send(new GetPlatformApplicationAttributesCommand({ PlatformApplicationArn: missing })),
        notFound,
      );
      await assert.rejects(
        sns.send(
          new SetPlatformApplicationAttributesCommand({
            PlatformApplicationArn: missing,
            Attributes: { SuccessFeedbackSampleRate: '1' },
          }),
        ),
        notFound,
      );
      await assert.rejects(
        sns.send(new CreatePlatformEndpointCommand({ PlatformApplicationArn: missing, Token: 'token' })),
        notFound,
      );
      await assert.rejects(
        sns.send(new ListEndpointsByPlatformApplicationCommand({ PlatformApplicationArn: missing })),
        notFound,
      );
      await assert.rejects(
        sns.send(new GetPlatformApplicationAttributesCommand({ PlatformApplicationArn: 'not-an-arn' })),
        awsError(
          'InvalidParameterException',
          400,
          'Invalid parameter: PlatformApplicationArn Reason: An ARN must have at least 6 elements, not 1',
        ),
      );
    });

    it('lists applications 15 to a page with NextToken', async () => {
      for (let i = 0; i < 16; i++) {
        await sns.send(
          new CreatePlatformApplicationCommand({
            Name: `paged-${i}`,
            Platform: 'GCM',
            Attributes: FCM_CREDENTIALS,
          }),
        );
      }
      const first = await sns.send(new ListPlatformApplicationsCommand({}));
      assert.equal(first.PlatformApplications?.length, 15);
      assert.ok(first.NextToken);
      const second = await sns.send(new ListPlatformApplicationsCommand({ NextToken: first.NextToken }));
      assert.equal(second.NextToken, undefined);
      const arns = [...(first.PlatformApplications ?? []), ...(second.PlatformApplications ?? [])].map(
        (a) => a.PlatformApplicationArn,
      );
      assert.equal(new Set(arns).size, arns.length, 'no application is listed twice');
      assert.ok(arns.includes(apnsApp) && arns.includes(fcmApp));
      assert.ok(arns.includes(`arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:app/GCM/paged-15`));
    });

    it('deletes an application with its endpoints, and deleting it again succeeds', async () => {
      const { PlatformApplicationArn: app = '' } = await sns.send(
        new CreatePlatformApplicationCommand({
          Name: 'short-lived',
          Platform: 'GCM',
          Attributes: FCM_CREDENTIALS,
        }),
      );
      const device = await createEndpoint(app, 'fcm-token-short-lived');
      await sns.send(new DeletePlatformApplicationCommand({ PlatformApplicationArn: app }));
      await sns.send(new DeletePlatformApplicationCommand({ PlatformApplicationArn: app }));
      await assert.rejects(
        sns.send(new GetPlatformApplicationAttributesCommand({ PlatformApplicationArn: app })),
        awsError('NotFoundException', 404),
      );
      await assert.rejects(
        sns.send(new GetEndpointAttributesCommand({ EndpointArn: device })),
        awsError('NotFoundException', 404, 'Endpoint does not exist'),
      );
    });
  });

  describe('platform endpoints', () => {
    it('creates an endpoint per token and describes it with Token, Enabled and CustomUserData', async () => {
      const arn = (
        await sns.send(
          new CreatePlatformEndpointCommand({
            PlatformApplicationArn: fcmApp,
            Token: 'fcm-token-1',
            CustomUserData: 'user-1',
          }),
        )
      ).EndpointArn;
      assert.match(
        arn ?? '',
        new RegExp(`^arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:endpoint/GCM/android-app/${UUID}$`),
      );
      const { Attributes } = await sns.send(new GetEndpointAttributesCommand({ EndpointArn: arn }));
      assert.deepEqual(Attributes, { CustomUserData: 'user-1', Enabled: 'true', Token: 'fcm-token-1' });
    });

    it('returns the existing endpoint for the same token and attributes, and refuses different attributes', async () => {
      const first = await createEndpoint(fcmApp, 'fcm-token-idempotent');
      assert.equal(await createEndpoint(fcmApp, 'fcm-token-idempotent'), first);
      // Enabled=true is the default, so it is the same endpoint.
      assert.equal(await createEndpoint(fcmApp, 'fcm-token-idempotent', { Enabled: 'true' }), first);
      const differs = `Invalid parameter: Token Reason: Endpoint ${first} already exists with the same Token, but different attributes.`;
      await assert.rejects(
        sns.send(
          new CreatePlatformEndpointCommand({
            PlatformApplicationArn: fcmApp,
            Token: 'fcm-token-idempotent',
            CustomUserData: 'someone else',
          }),
        ),
        awsError('InvalidParameterException', 400, differs),
      );
      await assert.rejects(
        createEndpoint(fcmApp, 'fcm-token-idempotent', { Enabled: 'false' }),
        awsError('InvalidParameterException', 400, differs),
      );
      // The same token in another application is another endpoint.
      const { PlatformApplicationArn: other = '' } = await sns.send(
        new CreatePlatformApplicationCommand({
          Name: 'android-beta',
          Platform: 'GCM',
          Attributes: FCM_CREDENTIALS,
        }),
      );
      assert.notEqual(await createEndpoint(other, 'fcm-token-idempotent'), first);
    });

    it('lowercases APNs tokens and refuses tokens that are not hexadecimal', async () => {
      const arn = await createEndpoint(apnsApp, apnsToken(1).toUpperCase());
      const { Attributes } = await sns.send(new GetEndpointAttributesCommand({ EndpointArn: arn }));
      assert.equal(Attributes?.Token, apnsToken(1));
      assert.equal(
        await createEndpoint(apnsApp, apnsToken(1)),
        arn,
        'the lowercase token is the same endpoint',
      );
      await assert.rejects(
        createEndpoint(apnsApp, 'not-a-device-token'),
        awsError(
          'InvalidParameterException',
          400,
          'Invalid parameter: Token Reason: iOS device tokens must be no more than 400 hexadecimal characters',
        ),
      );
    });

    it('refuses a request without its required parameters, naming the parameter', async () => {
      const missing = (name: string) =>
        awsError(
          'InvalidParameterException',
          400,
          `Invalid parameter: ${name} Reason: no value for required parameter`,
        );
      await assert.rejects(
        sns.send(
          new CreatePlatformEndpointCommand({ PlatformApplicationArn: fcmApp } as unknown as {
            PlatformApplicationArn: string;
            Token: string;
          }),
        ),
        missing('Token'),
      );
      await assert.rejects(
        sns.send(
          new CreatePlatformEndpointCommand({ Token: 'x' } as unknown as {
            PlatformApplicationArn: string;
            Token: string;
          }),
        ),
        missing('PlatformApplicationArn'),
      );
      await assert.rejects(
        sns.send(new GetEndpointAttributesCommand({} as unknown as { EndpointArn: string })),
        missing('EndpointArn'),
      );
      await assert.rejects(
        createEndpoint(fcmApp, 'fcm-token-bad-attribute', { Colour: 'blue' }),
        awsError(
          'InvalidParameterException',
          400,
          'Invalid parameter: Attributes Reason: Invalid attribute name: Colour',
        ),
      );
      await assert.rejects(
        createEndpoint(fcmApp, 'fcm-token-bad-enabled', { Enabled: 'maybe' }),
        awsError(
          'InvalidParameterException',
          400,
          'Invalid parameter: Attributes Reason: Enabled must be true or false',
        ),
      );
    });

    it('updates Token, Enabled and CustomUserData with SetEndpointAttributes', async () => {
      const arn = await createEndpoint(fcmApp, 'fcm-token-old');
      await sns.send(
        new SetEndpointAttributesCommand({
          EndpointArn: arn,
          Attributes: { Token: 'fcm-token-new', Enabled: 'false', CustomUserData: 'moved' },
        }),
      );
      const { Attributes } = await sns.send(new GetEndpointAttributesCommand({ EndpointArn: arn }));
      assert.deepEqual(Attributes, { CustomUserData: 'moved', Enabled: 'false', Token: 'fcm-token-new' });
      assert.equal(
        await createEndpoint(fcmApp, 'fcm-token-new'),
        arn,
        'the endpoint is found by its new token (no attribute given, so none is compared)',
      );
    });

    it('answers NotFound for an endpoint that does not exist, and deletes endpoints idempotently', async () => {
      const arn = await createEndpoint(fcmApp, 'fcm-token-deleted');
      await sns.send(new DeleteEndpointCommand({ EndpointArn: arn }));
      const again = await sns.send(new DeleteEndpointCommand({ EndpointArn: arn }));
      assert.equal(again.$metadata.httpStatusCode, 200);
      const notFound = awsError('NotFoundException', 404, 'Endpoint does not exist');
      await assert.rejects(sns.send(new GetEndpointAttributesCommand({ EndpointArn: arn })), notFound);
      await assert.rejects(
        sns.send(new SetEndpointAttributesCommand({ EndpointArn: arn, Attributes: { Enabled: 'true' } })),
        notFound,
      );
      await assert.rejects(sns.send(new PublishCommand({ TargetArn: arn, Message: 'hello' })), notFound);
      assert.notEqual(
        await createEndpoint(fcmApp, 'fcm-token-deleted'),
        arn,
        'a new endpoint, not the deleted one',
      );
    });

    it('lists an application’s endpoints 100 to a page with NextToken', async () => {
      const { PlatformApplicationArn: app = '' } = await sns.send(
        new CreatePlatformApplicationCommand({
          Name: 'crowded',
          Platform: 'GCM',
          Attributes: FCM_CREDENTIALS,
        }),
      );
      const created: string[] = [];
      for (let i = 0; i < 103; i++) created.push(await createEndpoint(app, `crowd-${i}`));
      const first = await sns.send(
        new ListEndpointsByPlatformApplicationCommand({ PlatformApplicationArn: app }),
      );
      assert.equal(first.Endpoints?.length, 100);
      assert.ok(first.NextToken);
      const second = await sns.send(
        new ListEndpointsByPlatformApplicationCommand({
          PlatformApplicationArn: app,
          NextToken: first.NextToken,
        }),
      );
      assert.equal(second.Endpoints?.length, 3);
      assert.equal(second.NextToken, undefined);
      const listed = [...(first.Endpoints ?? []), ...(second.Endpoints ?? [])];
      assert.deepEqual(
        listed.map((e) => e.EndpointArn),
        created,
      );
      assert.deepEqual(listed[102]?.Attributes, { Enabled: 'true', Token: 'crowd-102' });
    });
  });

  describe('Publish to an endpoint', () => {
    it('records a plain message as the APNs payload SNS would send, with its MessageId and time', async () => {
      const device = await createEndpoint(apnsApp, apnsToken(2));
      const before = endpoint.stats().published;
      const { MessageId } = await sns.send(
        new PublishCommand({
          TargetArn: device,
          Message: 'You have a new message',
          MessageAttributes: {
            'AWS.SNS.MOBILE.APNS.PUSH_TYPE': { DataType: 'String', StringValue: 'alert' },
          },
        }),
      );
      assert.match(MessageId ?? '', new RegExp(`^${UUID}$`));
      assert.equal(endpoint.stats().published, before + 1);
      const [delivery, ...rest] = endpoint.sns.mobileDeliveries({ endpointArn: device });
      assert.equal(rest.length, 0);
      assert.ok(delivery);
      assert.equal(delivery.messageId, MessageId);
      assert.equal(delivery.platform, 'APNS');
      assert.equal(delivery.platformApplicationArn, apnsApp);
      assert.equal(delivery.token, apnsToken(2));
      assert.equal(delivery.source, 'message');
      assert.deepEqual(JSON.parse(delivery.payload), { aps: { alert: 'You have a new message' } });
      assert.deepEqual(delivery.messageAttributes, {
        'AWS.SNS.MOBILE.APNS.PUSH_TYPE': { type: 'String', value: 'alert' },
      });
      assert.equal(new Date(delivery.timestamp).toISOString(), delivery.timestamp);
    });

    it('picks the platform’s own entry of a MessageStructure=json message, else its default entry', async () => {
      const iphone = await createEndpoint(apnsApp, apnsToken(3));
      const android = await createEndpoint(fcmApp, 'fcm-token-json');
      const apnsPayload = JSON.stringify({ aps: { alert: { title: 'Hi', body: 'From APNS' } }, room: 'r1' });
      const message = JSON.stringify({ default: 'Fallback text', APNS: apnsPayload });
      await sns.send(new PublishCommand({ TargetArn: iphone, Message: message, MessageStructure: 'json' }));
      await sns.send(new PublishCommand({ TargetArn: android, Message: message, MessageStructure: 'json' }));
      const fcmPayload = JSON.stringify({ fcmV1Message: { message: { notification: { title: 'Hi' } } } });
      await sns.send(
        new PublishCommand({
          TargetArn: android,
          Message: JSON.stringify({ GCM: fcmPayload }),
          MessageStructure: 'json',
          Subject: 'ignored by platforms',
        }),
      );

      const [toIphone] = endpoint.sns.mobileDeliveries({ endpointArn: iphone });
      assert.equal(toIphone?.source, 'platform');
      assert.equal(toIphone?.payload, apnsPayload);
      const [fallback, own] = endpoint.sns.mobileDeliveries({ token: 'fcm-token-json' });
      assert.equal(fallback?.source, 'default');
      assert.deepEqual(JSON.parse(fallback?.payload ?? ''), { data: { default: 'Fallback text' } });
      assert.equal(own?.source, 'platform');
      assert.equal(own?.payload, fcmPayload);
      assert.equal(own?.subject, 'ignored by platforms');
      assert.equal(endpoint.sns.mobileDeliveries({ platformApplicationArn: fcmApp }).length, 2);
    });

    it('refuses a json message without an entry for the platform or default, and one that is not JSON', async () => {
      const android = await createEndpoint(fcmApp, 'fcm-token-refused');
      await assert.rejects(
        sns.send(
          new PublishCommand({
            TargetArn: android,
            // An object is not an entry: SNS wants the platform's payload as JSON text.
            Message: JSON.stringify({ APNS: '{"aps":{}}', GCM: { data: {} } }),
            MessageStructure: 'json',
          }),
        ),
        awsError(
          'InvalidParameterException',
          400,
          "Invalid parameter: JSON must contain an entry for 'default' or 'GCM'.",
        ),
      );
      await assert.rejects(
        sns.send(new PublishCommand({ TargetArn: android, Message: '{not json', MessageStructure: 'json' })),
        awsError('InvalidParameterException', 400, /JSON message body failed to parse/),
      );
      await assert.rejects(
        sns.send(new PublishCommand({ TargetArn: android, Message: '' })),
        awsError('InvalidParameterException', 400, 'Invalid parameter: Empty message'),
      );
      assert.deepEqual(endpoint.sns.mobileDeliveries({ endpointArn: android }), []);
    });

    it('answers EndpointDisabled once a test disables the endpoint as SNS does for an invalid token', async () => {
      const device = await createEndpoint(apnsApp, apnsToken(4));
      await sns.send(new PublishCommand({ TargetArn: device, Message: 'first' }));

      endpoint.sns.disableEndpoint(device);

      const { Attributes } = await sns.send(new GetEndpointAttributesCommand({ EndpointArn: device }));
      assert.equal(Attributes?.Enabled, 'false');
      const disabled = awsError('EndpointDisabledException', 400, 'Endpoint is disabled');
      await assert.rejects(sns.send(new PublishCommand({ TargetArn: device, Message: 'second' })), disabled);
      // Checked before the message: even a message SNS would refuse gets EndpointDisabled.
      await assert.rejects(
        sns.send(new PublishCommand({ TargetArn: device, Message: 'msg', MessageStructure: 'json' })),
        disabled,
      );
      assert.deepEqual(
        endpoint.sns.mobileDeliveries({ endpointArn: device }).map((d) => d.payload),
        [JSON.stringify({ aps: { alert: 'first' } })],
      );

      // The app's fix: update the token and enable the endpoint again.
      await sns.send(
        new SetEndpointAttributesCommand({
          EndpointArn: device,
          Attributes: { Token: apnsToken(5), Enabled: 'true' },
        }),
      );
      await sns.send(new PublishCommand({ TargetArn: device, Message: 'third' }));
      assert.deepEqual(
        endpoint.sns.mobileDeliveries({ endpointArn: device }).map((d) => d.token),
        [apnsToken(4), apnsToken(5)],
      );
    });

    it('answers EndpointDisabled for an endpoint created with Enabled=false', async () => {
      const device = await createEndpoint(fcmApp, 'fcm-token-off', { Enabled: 'false' });
      await assert.rejects(
        sns.send(new PublishCommand({ TargetArn: device, Message: 'hello' })),
        awsError('EndpointDisabledException', 400, 'Endpoint is disabled'),
      );
    });

    it('refuses to disable an endpoint that does not exist', () => {
      assert.throws(
        () =>
          endpoint.sns.disableEndpoint(
            `arn:aws:sns:${LOCAL_REGION}:${LOCAL_ACCOUNT}:endpoint/GCM/android-app/x`,
          ),
        { name: 'SnsError', code: 'NotFound' },
      );
    });

    it('does not take an endpoint ARN in PublishBatch, which publishes to topics only', async () => {
      const device = await createEndpoint(fcmApp, 'fcm-token-batch');
      await assert.rejects(
        sns.send(
          new PublishBatchCommand({
            TopicArn: device,
            PublishBatchRequestEntries: [{ Id: 'a', Message: 'hello' }],
          }),
        ),
        awsError('NotFoundException', 404),
      );
      assert.deepEqual(endpoint.sns.mobileDeliveries({ endpointArn: device }), []);
    });
  });
});
