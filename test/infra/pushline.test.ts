import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ENV } from '../../functions/shared/environment.ts';
import { TABLE_SCHEMA } from '../../functions/shared/table-schema.ts';
import { MESSAGE_ROUTE_KEYS, Pushline, TABLE_ACTIONS } from '../../infra/pushline.ts';
import { logicalIdOf, resourcesOf, type Synthesized, synth } from './synth.ts';

const FUNCTIONS = ['Authorizer', 'Connect', 'Disconnect', 'Message', 'Deliver', 'Fanout'] as const;

/** The IAM statements of a function's role policy. */
function statementsOf(s: Synthesized, fn: (typeof FUNCTIONS)[number]) {
  const roleId = logicalIdOf(s.stack, `Pushline/${fn}Role`);
  const policies = resourcesOf(s.json, 'AWS::IAM::Policy').filter(([, policy]) =>
    JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`),
  );
  return policies.flatMap(
    ([, policy]) =>
      (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] })
        .Statement,
  );
}

function actionsOf(statement: { Action: string | string[] }): string[] {
  return ([] as string[]).concat(statement.Action);
}

describe('the Pushline construct with its defaults', () => {
  let s: Synthesized;
  before(() => {
    s = synth();
  });

  it('routes $connect, $disconnect, $default and the message actions to their functions', () => {
    const integrationTarget = new Map<string, string>();
    for (const [id, integration] of resourcesOf(s.json, 'AWS::ApiGatewayV2::Integration')) {
      assert.equal(integration.Properties.IntegrationType, 'AWS_PROXY');
      const fn = JSON.stringify(integration.Properties.IntegrationUri).match(
        /"Fn::GetAtt":\["(\w+)","Arn"\]/,
      )?.[1];
      integrationTarget.set(id, fn ?? '');
    }
    const routes = new Map<string, string>();
    for (const [, route] of resourcesOf(s.json, 'AWS::ApiGatewayV2::Route')) {
      const integrationId = JSON.stringify(route.Properties.Target).match(/"Ref":"(\w+)"/)?.[1] ?? '';
      routes.set(route.Properties.RouteKey as string, integrationTarget.get(integrationId) ?? '');
    }
    const id = (fn: string) => logicalIdOf(s.stack, `Pushline/${fn}`);
    assert.deepEqual(
      Object.fromEntries(routes),
      Object.fromEntries([
        ['$connect', id('Connect')],
        ['$disconnect', id('Disconnect')],
        ['$default', id('Message')],
        ...MESSAGE_ROUTE_KEYS.map((key) => [key, id('Message')]),
      ]),
    );
  });

  it('selects routes on the action field of the JSON body', () => {
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it('answers on the message routes only (two-way routes with a $default route response)', () => {
    const twoWay = new Set<string>();
    for (const [routeId, route] of resourcesOf(s.json, 'AWS::ApiGatewayV2::Route')) {
      const hasResponse = resourcesOf(s.json, 'AWS::ApiGatewayV2::RouteResponse').some(
        ([, response]) =>
          (response.Properties.RouteId as { Ref: string }).Ref === routeId &&
          response.Properties.RouteResponseKey === '$default',
      );
      if (hasResponse && route.Properties.RouteResponseSelectionExpression === '$default') {
        twoWay.add(route.Properties.RouteKey as string);
      }
    }
    assert.deepEqual([...twoWay].sort(), ['$default', ...MESSAGE_ROUTE_KEYS].sort());
  });

  it('authorizes $connect with a REQUEST authorizer that has no identity source, so query and subprotocol tokens both reach it', () => {
    const authorizers = resourcesOf(s.json, 'AWS::ApiGatewayV2::Authorizer');
    assert.equal(authorizers.length, 1);
    const [authorizerId, authorizer] = authorizers[0] as [string, { Properties: Record<string, unknown> }];
    assert.equal(authorizer.Properties.AuthorizerType, 'REQUEST');
    assert.equal('IdentitySource' in authorizer.Properties, false);
    assert.match(
      JSON.stringify(authorizer.Properties.AuthorizerUri),
      new RegExp(logicalIdOf(s.stack, 'Pushline/Authorizer')),
    );
    const authorized = resourcesOf(s.json, 'AWS::ApiGatewayV2::Route').filter(
      ([, route]) => route.Properties.AuthorizationType === 'CUSTOM',
    );
    assert.deepEqual(
      authorized.map(([, route]) => [route.Properties.RouteKey, route.Properties.AuthorizerId]),
      [['$connect', { Ref: authorizerId }]],
    );
  });

  it('lets API Gateway invoke the authorizer only through this authorizer', () => {
    s.template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      FunctionName: { 'Fn::GetAtt': [logicalIdOf(s.stack, 'Pushline/Authorizer'), 'Arn'] },
      Principal: 'apigateway.amazonaws.com',
      SourceArn: Match.objectLike({
        'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('/authorizers/')])],
      }),
    });
  });

  it("grants ManageConnections to message, deliver and fanout only, on this API's stage @connections", () => {
    const apiId = logicalIdOf(s.stack, 'Pushline/Api');
    for (const fn of FUNCTIONS) {
      const statements = statementsOf(s, fn).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('execute-api:')),
      );
      if (fn === 'Message' || fn === 'Deliver' || fn === 'Fanout') {
        assert.equal(statements.length, 1, fn);
        assert.deepEqual(actionsOf(statements[0] as { Action: string }), ['execute-api:ManageConnections']);
        const resource = JSON.stringify(statements[0]?.Resource);
        assert.ok(resource.includes(`{"Ref":"${apiId}"},"/prod/*/@connections/*"`), `${fn}: ${resource}`);
      } else {
        assert.deepEqual(statements, [], fn);
      }
    }
  });

  it('grants each function exactly its DynamoDB operations on the table and its indexes', () => {
    const tableId = logicalIdOf(s.stack, 'Pushline/Table');
    for (const fn of FUNCTIONS) {
      const statements = statementsOf(s, fn).filter((statement) =>
        actionsOf(statement).some((action) => action.startsWith('dynamodb:')),
      );
      const expected = TABLE_ACTIONS[fn.toLowerCase() as keyof typeof TABLE_ACTIONS];
      assert.deepEqual(statements.flatMap(actionsOf).sort(), [...expected].sort(), fn);
      for (const statement of statements) {
        assert.deepEqual(statement.Resource, [
          { 'Fn::GetAtt': [tableId, 'Arn'] },
          { 'Fn::Join': ['', [{ 'Fn::GetAtt': [tableId, 'Arn'] }, '/index/*']] },
        ]);
      }
    }
  });

  it('lets only the delivery function send to the rejected queue, and it and the fan-out function to the dead-letter queue (their on-failure destination)', () => {
    const rejected = logicalIdOf(s.stack, 'Pushline/RejectedQueue');
    const dlq = logicalIdOf(s.stack, 'Pushline/DeadLetterQueue');
    for (const fn of FUNCTIONS) {
      const targets = statementsOf(s, fn)
        .filter((statement) => actionsOf(statement).includes('sqs:SendMessage'))
        .flatMap((statement) =>
          ([] as { 'Fn::GetAtt': [string, string] }[]).concat(statement.Resource as never),
        )
        .map((resource) => resource['Fn::GetAtt'][0])
        .sort();
      const expected = fn === 'Deliver' ? [dlq, rejected].sort() : fn === 'Fanout' ? [dlq] : [];
      assert.deepEqual(targets, expected, fn);
    }
  });

  it('keeps the table on demand, with point-in-time recovery, the TTL attribute and the byConnection index', () => {
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.ttlAttribute, Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: TABLE_SCHEMA.indexes.byConnection.name,
          KeySchema: [{ AttributeName: TABLE_SCHEMA.indexes.byConnection.partitionKey, KeyType: 'HASH' }],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('keeps stored messages in a local index by seq, and unread ones in a sparse local index with their source', () => {
    const { bySeq, unread } = TABLE_SCHEMA.localIndexes;
    s.template.hasResourceProperties('AWS::DynamoDB::Table', {
      LocalSecondaryIndexes: [
        {
          IndexName: bySeq.name,
          KeySchema: [
            { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
            { AttributeName: bySeq.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: unread.name,
          KeySchema: [
            { AttributeName: TABLE_SCHEMA.partitionKey, KeyType: 'HASH' },
            { AttributeName: unread.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: [...unread.include] },
        },
      ],
    });
  });

  it('retains the table, queues and log groups when the stack is deleted', () => {
    for (const type of ['AWS::DynamoDB::Table', 'AWS::SQS::Queue', 'AWS::Logs::LogGroup']) {
      for (const [id, resource] of resourcesOf(s.json, type))
        assert.equal(resource.DeletionPolicy, 'Retain', id);
    }
  });

  it('subscribes the delivery function to the topic with the dead-letter queue as redrive target', () => {
    s.template.resourceCountIs('AWS::SNS::Subscription', 2);
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      TopicArn: { Ref: logicalIdOf(s.stack, 'Pushline/Topic') },
      Endpoint: { 'Fn::GetAtt': [logicalIdOf(s.stack, 'Pushline/Deliver'), 'Arn'] },
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOf(s.stack, 'Pushline/DeadLetterQueue'), 'Arn'] },
      },
    });
  });

  it("sends the delivery function's failed asynchronous invocations to the dead-letter queue, with Lambda's default retries", () => {
    const configs = resourcesOf(s.json, 'AWS::Lambda::EventInvokeConfig').filter(
      ([, config]) =>
        JSON.stringify(config.Properties.FunctionName) ===
        JSON.stringify({ Ref: logicalIdOf(s.stack, 'Pushline/Deliver') }),
    );
    assert.equal(configs.length, 1);
    const props = configs[0]?.[1].Properties ?? {};
    assert.deepEqual(props.DestinationConfig, {
      OnFailure: { Destination: { 'Fn::GetAtt': [logicalIdOf(s.stack, 'Pushline/DeadLetterQueue'), 'Arn'] } },
    });
    assert.equal('MaximumRetryAttempts' in props, false);
  });

  it('subscribes the fan-out function to the internal fan-out topic, with reserved concurrency and the dead-letter queue', () => {
    const fanoutFn = logicalIdOf(s.stack, 'Pushline/Fanout');
    s.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      TopicArn: { Ref: logicalIdOf(s.stack, 'Pushline/FanoutTopic') },
      Endpoint: { 'Fn::GetAtt': [fanoutFn, 'Arn'] },
      RedrivePolicy: {
        deadLetterTargetArn: { 'Fn::GetAtt': [logicalIdOf(s.stack, 'Pushline/DeadLetterQueue'), 'Arn'] },
      },
    });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Pushline fanout',
      ReservedConcurrentExecutions: 4,
      Timeout: 60,
      Environment: {
        Variables: Match.objectLike({
          PUSHLINE_FANOUT_POSTS_PER_SECOND: '500',
          PUSHLINE_FANOUT_CONNECTIONS_PER_INVOCATION: '5000',
        }),
      },
    });
    s.template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: fanoutFn },
      DestinationConfig: {
        OnFailure: {
          Destination: { 'Fn::GetAtt': [logicalIdOf(s.stack, 'Pushline/DeadLetterQueue'), 'Arn'] },
        },
      },
    });
  });

  it('encrypts the topic with the AWS managed key and refuses publishes without TLS', () => {
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: 'alias/aws/sns' });
    s.template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('encrypts both queues and refuses requests without TLS', () => {
    const queues = resourcesOf(s.json, 'AWS::SQS::Queue');
    assert.equal(queues.length, 2);
    for (const [, queue] of queues) assert.equal(queue.Properties.SqsManagedSseEnabled, true);
    const policies = resourcesOf(s.json, 'AWS::SQS::QueuePolicy');
    for (const [queueId] of queues) {
      const policy = policies.find(([, p]) => JSON.stringify(p.Properties.Queues).includes(queueId));
      assert.match(
        JSON.stringify(policy?.[1].Properties.PolicyDocument),
        /"aws:SecureTransport":"false"/,
        queueId,
      );
    }
  });

  it('runs every function on nodejs22.x, arm64, from a bundled ESM module, with its source recorded for the local runtime', () => {
    for (const fn of FUNCTIONS) {
      const [, resource] = resourcesOf(s.json, 'AWS::Lambda::Function').find(
        ([id]) => id === logicalIdOf(s.stack, `Pushline/${fn}`),
      ) ?? [undefined, undefined];
      assert.ok(resource, fn);
      assert.equal(resource.Properties.Runtime, 'nodejs22.x', fn);
      assert.deepEqual(resource.Properties.Architectures, ['arm64'], fn);
      assert.equal(resource.Properties.Handler, 'index.handler', fn);
      assert.equal(resource.Properties.MemorySize, 256, fn);
      assert.deepEqual(resource.Metadata?.['pushline:entry'], `functions/${fn.toLowerCase()}.ts`);
      assert.deepEqual(resource.Metadata?.['pushline:handler'], 'handler');
    }
  });

  it('gives every function its own log group with a one-month retention', () => {
    for (const fn of FUNCTIONS) {
      const logGroupId = logicalIdOf(s.stack, `Pushline/${fn}Logs`);
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Description: `Pushline ${fn.toLowerCase()}`,
        LoggingConfig: { LogGroup: { Ref: logGroupId } },
      });
      assert.equal(s.json.Resources[logGroupId]?.Properties.RetentionInDays, 30, fn);
    }
  });

  it('writes no function log outside its own log group (no AWSLambdaBasicExecutionRole)', () => {
    for (const [id, role] of resourcesOf(s.json, 'AWS::IAM::Role')) {
      if (!JSON.stringify(role.Properties.AssumeRolePolicyDocument).includes('lambda.amazonaws.com'))
        continue;
      assert.equal(role.Properties.ManagedPolicyArns, undefined, id);
    }
  });

  it('deploys the stage automatically with default throttling and a JSON access log', () => {
    const [[, stage] = []] = resourcesOf(s.json, 'AWS::ApiGatewayV2::Stage');
    assert.ok(stage);
    assert.equal(stage.Properties.StageName, 'prod');
    assert.equal(stage.Properties.AutoDeploy, true);
    assert.deepEqual(stage.Properties.DefaultRouteSettings, {
      ThrottlingBurstLimit: 1000,
      ThrottlingRateLimit: 500,
    });
    const logs = stage.Properties.AccessLogSettings as { DestinationArn: unknown; Format: string };
    assert.deepEqual(logs.DestinationArn, {
      'Fn::GetAtt': [logicalIdOf(s.stack, 'Pushline/AccessLogs'), 'Arn'],
    });
    const format = JSON.parse(logs.Format) as Record<string, string>;
    assert.equal(format.requestId, '$context.requestId');
    assert.equal(format.routeKey, '$context.routeKey');
    assert.equal(format.connectionId, '$context.connectionId');
  });

  it("sets the account's API Gateway logging role before the stage needs it, and keeps it on deletion", () => {
    const [[accountId, account] = []] = resourcesOf(s.json, 'AWS::ApiGateway::Account');
    assert.ok(accountId && account);
    assert.equal(account.DeletionPolicy, 'Retain');
    const roleId = (account.Properties.CloudWatchRoleArn as { 'Fn::GetAtt': [string, string] })[
      'Fn::GetAtt'
    ][0];
    assert.equal(s.json.Resources[roleId]?.DeletionPolicy, 'Retain');
    const [[, stage] = []] = resourcesOf(s.json, 'AWS::ApiGatewayV2::Stage');
    assert.ok(stage?.DependsOn?.includes(accountId));
  });

  it('alarms on dead letters, rejected envelopes, delivery errors and throttles, fan-out and message errors', () => {
    const alarms = resourcesOf(s.json, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties ?? {});
    const summary = alarms
      .map((alarm) => `${alarm.Namespace}/${alarm.MetricName} ${alarm.ComparisonOperator} ${alarm.Threshold}`)
      .sort();
    assert.deepEqual(summary, [
      'AWS/Lambda/Errors GreaterThanOrEqualToThreshold 1',
      'AWS/Lambda/Errors GreaterThanOrEqualToThreshold 1',
      'AWS/Lambda/Errors GreaterThanOrEqualToThreshold 1',
      'AWS/Lambda/Throttles GreaterThanOrEqualToThreshold 1',
      'AWS/SQS/ApproximateNumberOfMessagesVisible GreaterThanOrEqualToThreshold 1',
      'AWS/SQS/ApproximateNumberOfMessagesVisible GreaterThanOrEqualToThreshold 1',
    ]);
    const dimensions = JSON.stringify(alarms.map((alarm) => alarm.Dimensions));
    for (const target of ['Deliver', 'Fanout', 'Message', 'DeadLetterQueue', 'RejectedQueue']) {
      assert.ok(dimensions.includes(logicalIdOf(s.stack, `Pushline/${target}`)), target);
    }
    for (const alarm of alarms) assert.equal(alarm.AlarmActions, undefined);
  });

  it('alarms on dropped events, failing mobile pushes and failing inbound subscriptions when they are on', () => {
    const full = synth({
      events: 'true',
      services: 'robot',
      mobilePushTypes: 'chat.text',
      mobilePushApplications: 'APNS=arn:aws:sns:eu-west-1:123456789012:app/APNS/shop',
    });
    const alarms = resourcesOf(full.json, 'AWS::CloudWatch::Alarm').map(
      ([, alarm]) => alarm.Properties ?? {},
    );
    const extra = alarms
      .filter((alarm) => alarm.Namespace === 'Pushline' || alarm.Namespace === 'AWS/SNS')
      .map((alarm) => ({
        metric: `${alarm.Namespace}/${alarm.MetricName}`,
        threshold: alarm.Threshold,
        period: alarm.Period,
        statistic: alarm.Statistic,
        dimensions: alarm.Dimensions,
      }))
      .sort((a, b) => a.metric.localeCompare(b.metric));
    const service = [{ Name: 'service', Value: 'pushline' }];
    assert.deepEqual(extra, [
      {
        metric: 'AWS/SNS/NumberOfNotificationsFailed',
        threshold: 1,
        period: 300,
        statistic: 'Sum',
        dimensions: [
          {
            Name: 'TopicName',
            Value: { 'Fn::GetAtt': [logicalIdOf(full.stack, 'Pushline/InboundTopic'), 'TopicName'] },
          },
        ],
      },
      { metric: 'Pushline/eventsDropped', threshold: 1, period: 300, statistic: 'Sum', dimensions: service },
      {
        metric: 'Pushline/mobilePushFailed',
        threshold: 10,
        period: 300,
        statistic: 'Sum',
        dimensions: service,
      },
    ]);
    assert.equal(alarms.length, 9);
    const plain = resourcesOf(s.json, 'AWS::CloudWatch::Alarm').map(([, alarm]) => alarm.Properties ?? {});
    assert.ok(
      plain.every((alarm) => alarm.Namespace !== 'Pushline' && alarm.Namespace !== 'AWS/SNS'),
      'none of them without the features',
    );
  });

  it('outputs WebSocketUrl, TopicArn and TableName', () => {
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const apiId = logicalIdOf(s.stack, 'Pushline/Api');
    assert.match(
      JSON.stringify(outputs.WebSocketUrl?.Value),
      new RegExp(`"wss://",\\{"Ref":"${apiId}"\\}.*"/prod"`),
    );
    assert.deepEqual(outputs.TopicArn?.Value, { Ref: logicalIdOf(s.stack, 'Pushline/Topic') });
    assert.deepEqual(outputs.TableName?.Value, { Ref: logicalIdOf(s.stack, 'Pushline/Table') });
  });

  it('gives the authorizer the ARN of a generated secret and the right to read it, never a secret value', () => {
    const secretId = logicalIdOf(s.stack, 'JwtSecret');
    const secret = s.json.Resources[secretId];
    assert.equal(secret?.Type, 'AWS::SecretsManager::Secret');
    assert.equal(secret?.Properties.SecretString, undefined);
    assert.ok(secret?.Properties.GenerateSecretString);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Pushline authorizer',
      Environment: { Variables: Match.objectLike({ [ENV.jwtSecretArn]: { Ref: secretId } }) },
    });
    const reads = statementsOf(s, 'Authorizer').filter((statement) =>
      actionsOf(statement).includes('secretsmanager:GetSecretValue'),
    );
    assert.deepEqual(
      reads.map((statement) => statement.Resource),
      [{ Ref: secretId }],
    );
  });

  it('puts no secret value in any function environment', () => {
    for (const [id, fn] of resourcesOf(s.json, 'AWS::Lambda::Function')) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
      assert.equal(ENV.jwtSecret in variables, false, id);
      for (const [name, value] of Object.entries(variables)) {
        assert.doesNotMatch(JSON.stringify(value), /resolve:secretsmanager|SecretString/, `${id} ${name}`);
      }
    }
  });
});

describe('the Pushline construct configured by context', () => {
  it('verifies JWKS tokens with the issuer and audiences given, with no secret anywhere', () => {
    const s = synth({
      jwksUrl: 'https://issuer.example/.well-known/jwks.json',
      issuer: 'https://issuer.example/',
      audience: 'web, mobile',
    });
    s.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Pushline authorizer',
      Environment: {
        Variables: {
          [ENV.jwksUrl]: 'https://issuer.example/.well-known/jwks.json',
          [ENV.jwtIssuer]: 'https://issuer.example/',
          [ENV.jwtAudience]: 'web,mobile',
          POWERTOOLS_SERVICE_NAME: 'pushline',
          POWERTOOLS_METRICS_NAMESPACE: 'Pushline',
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
  });

  it('refuses tokens without exp unless allowTokensWithoutExpiry is set', () => {
    const authorizerEnv = (context: Record<string, string>) => {
      const functions = synth(context).template.findResources('AWS::Lambda::Function', {
        Properties: { Description: 'Pushline authorizer' },
      });
      const [only] = Object.values(functions) as {
        Properties: { Environment: { Variables: Record<string, string> } };
      }[];
      return only?.Properties.Environment.Variables ?? {};
    };
    assert.equal(authorizerEnv({})[ENV.jwtAllowNoExpiry], undefined);
    assert.equal(authorizerEnv({ allowTokensWithoutExpiry: 'true' })[ENV.jwtAllowNoExpiry], 'true');
    assert.throws(() => synth({ allowTokensWithoutExpiry: 'yes' }), /allowTokensWithoutExpiry/);
  });

  it('passes the topic rule to the authorizer, message and disconnect functions, and the fan-out cap to the fan-out function', () => {
    const s = synth({
      topicClaim: 'channels',
      openTopics: 'lobby, news.*',
      presenceTopics: 'room.*',
      fanoutMaxPostsPerSecond: '3000',
      fanoutConcurrency: '6',
      fanoutConnectionsPerInvocation: '800',
    });
    const env = (description: string, variables: Record<string, string>) =>
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Description: description,
        Environment: { Variables: Match.objectLike(variables) },
      });
    env('Pushline authorizer', { [ENV.topicClaim]: 'channels' });
    env('Pushline message', { [ENV.openTopics]: 'lobby,news.*', [ENV.presenceTopics]: 'room.*' });
    env('Pushline disconnect', { [ENV.presenceTopics]: 'room.*' });
    env('Pushline fanout', {
      [ENV.fanoutPostsPerSecond]: '500',
      [ENV.fanoutConnectionsPerInvocation]: '800',
    });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Pushline fanout',
      ReservedConcurrentExecutions: 6,
    });
  });

  it('gives the message function the send rule, its rate and the Pushline topic to publish sends to', () => {
    const defaults = synth({});
    const messageEnv = (t: typeof defaults, variables: Record<string, unknown>) =>
      t.template.hasResourceProperties('AWS::Lambda::Function', {
        Description: 'Pushline message',
        Environment: { Variables: Match.objectLike(variables) },
      });
    messageEnv(defaults, {
      [ENV.topicArn]: { Ref: logicalIdOf(defaults.stack, 'Pushline/Topic') },
      [ENV.sendToUsers]: 'true',
      [ENV.sendRatePerSecond]: '10',
      [ENV.sendBurst]: '20',
    });
    const set = synth({ sendToUsers: 'false', sendRatePerSecond: '2', sendBurst: '5' });
    messageEnv(set, { [ENV.sendToUsers]: 'false', [ENV.sendRatePerSecond]: '2', [ENV.sendBurst]: '5' });
    const messageRole = JSON.stringify(
      resourcesOf(defaults.json, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('PushlineMessage')),
    );
    assert.ok(
      messageRole.includes(`{"Ref":"${logicalIdOf(defaults.stack, 'Pushline/Topic')}"}`) &&
        messageRole.includes('"sns:Publish"'),
      'the message function publishes to the Pushline topic',
    );
    assert.throws(() => synth({ sendBurst: '0' }), /sendBurst/);
  });

  it('makes an events topic when events are on, for every function that reports them, and none by default', () => {
    assert.equal(
      resourcesOf(synth({}).json, 'AWS::SNS::Topic').length,
      2,
      'off by default: no topic, no cost',
    );
    const s = synth({ events: 'true' });
    const topic = logicalIdOf(s.stack, 'Pushline/EventsTopic');
    for (const name of ['connect', 'disconnect', 'message', 'deliver', 'fanout']) {
      s.template.hasResourceProperties('AWS::Lambda::Function', {
        Description: `Pushline ${name}`,
        Environment: { Variables: Match.objectLike({ [ENV.eventsTopicArn]: { Ref: topic } }) },
      });
    }
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    assert.deepEqual(outputs.EventsTopicArn?.Value, { Ref: topic });
  });

  it('makes an inbound topic for the services clients may send to, and none without them', () => {
    assert.equal(resourcesOf(synth({}).json, 'AWS::SNS::Topic').length, 2, 'the Pushline and fan-out topics');
    const s = synth({ services: 'robot, billing' });
    const inbound = logicalIdOf(s.stack, 'Pushline/InboundTopic');
    assert.equal(resourcesOf(s.json, 'AWS::SNS::Topic').length, 3);
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'Pushline message',
      Environment: {
        Variables: Match.objectLike({
          [ENV.inboundTopicArn]: { Ref: inbound },
          [ENV.services]: 'robot,billing',
        }),
      },
    });
    const messagePolicy = JSON.stringify(
      resourcesOf(s.json, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('PushlineMessage')),
    );
    assert.ok(messagePolicy.includes(`{"Ref":"${inbound}"}`), 'the message function publishes to it');
    const outputs = s.template.toJSON().Outputs as Record<string, { Value: unknown }>;
    assert.deepEqual(outputs.InboundTopicArn?.Value, { Ref: inbound });
    assert.throws(() => synth({ services: 'robot,no way' }), /conversations\.services: "no way"/);
  });

  it('refuses a topic pattern that is not one, and a fan-out cap above the account quota, naming them', () => {
    assert.throws(() => synth({ presenceTopics: 'room#1' }), /topics\.presence: topic "room#1"/);
    assert.throws(() => synth({ fanoutMaxPostsPerSecond: '20000' }), /maxPostsPerSecond is above/);
  });

  it('refuses a JWKS URL without an issuer', () => {
    assert.throws(() => synth({ jwksUrl: 'https://issuer.example/jwks.json' }), { name: 'SettingsError' });
  });

  it('declares the query-string identity source when tokens come only in the query string', () => {
    const s = synth({ tokenSource: 'query' });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      IdentitySource: ['route.request.querystring.token'],
    });
  });

  it('declares the Sec-WebSocket-Protocol identity source when tokens come only as a subprotocol', () => {
    const s = synth({ tokenSource: 'protocol' });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
      IdentitySource: ['route.request.header.Sec-WebSocket-Protocol'],
    });
  });

  it('applies the stage name, throttling, memory, retention and delivery concurrency given', () => {
    const s = synth({
      stageName: 'live',
      throttleRate: '50',
      throttleBurst: '100',
      memorySize: '512',
      logRetentionDays: '7',
      deliveryConcurrency: '8',
    });
    s.template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'live',
      DefaultRouteSettings: { ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 },
    });
    s.template.hasResourceProperties('AWS::Lambda::Function', {
      MemorySize: 512,
      Environment: { Variables: Match.objectLike({ [ENV.deliveryConcurrency]: '8' }) },
    });
    s.template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 7 });
    const policy = JSON.stringify(s.template.findResources('AWS::IAM::Policy'));
    assert.ok(policy.includes('"/live/*/@connections/*"'));
  });

  it('gives the functions that post the management API client chosen, signed HTTP by default', () => {
    const posting = (s: ReturnType<typeof synth>) =>
      Object.values(s.template.findResources('AWS::Lambda::Function'))
        .map((fn) => (fn.Properties.Environment?.Variables ?? {}) as Record<string, unknown>)
        .filter((variables) => ENV.callbackUrl in variables)
        .map((variables) => variables[ENV.managementClient]);
    assert.deepEqual(posting(synth()), ['http', 'http', 'http']);
    assert.deepEqual(posting(synth({ managementClient: 'sdk' })), ['sdk', 'sdk', 'sdk']);
    assert.throws(() => synth({ managementClient: 'fetch' }), { name: 'SettingsError' });
  });

  it('rejects a log retention CloudWatch does not offer', () => {
    assert.throws(() => synth({ logRetentionDays: '2' }), { name: 'SettingsError' });
  });

  it('deletes the data with the stack when asked to', () => {
    const s = synth({ removalPolicy: 'destroy' });
    for (const type of ['AWS::DynamoDB::Table', 'AWS::SQS::Queue', 'AWS::Logs::LogGroup']) {
      for (const [id, resource] of resourcesOf(s.json, type))
        assert.equal(resource.DeletionPolicy, 'Delete', id);
    }
  });

  it('encrypts the topic with a rotated customer managed key and grants publishers its use', () => {
    const s = synth({ topicEncryption: 'kms' }, (stack) => {
      const publisher = new iam.Role(stack, 'Publisher', { assumedBy: new iam.AccountRootPrincipal() });
      stack.pushline.grantPublish(publisher);
    });
    const [[keyId, key] = []] = resourcesOf(s.json, 'AWS::KMS::Key');
    assert.ok(keyId && key);
    assert.equal(key.Properties.EnableKeyRotation, true);
    s.template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] } });
    const publisherPolicy = JSON.stringify(
      resourcesOf(s.json, 'AWS::IAM::Policy').find(([id]) => id.startsWith('PublisherDefaultPolicy'))?.[1],
    );
    assert.match(publisherPolicy, /"sns:Publish"/);
    assert.match(publisherPolicy, /"kms:GenerateDataKey\*"/);
  });

  it('leaves the account logging role alone when another stack manages it', () => {
    const s = synth({ apiGatewayCloudWatchRole: 'false' });
    s.template.resourceCountIs('AWS::ApiGateway::Account', 0);
  });

  it('sends every alarm to the alarm topic given', () => {
    const s = synth({ alarmTopicArn: 'arn:aws:sns:eu-west-1:123456789012:on-call' });
    s.template.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: ['arn:aws:sns:eu-west-1:123456789012:on-call'],
    });
    s.template.resourceCountIs('AWS::CloudWatch::Alarm', 6);
  });
});

describe('grantPublish', () => {
  it('lets a service role publish to the topic and nothing else', () => {
    let roleId = '';
    const s = synth({}, (stack) => {
      const role = new iam.Role(stack, 'Service', {
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      });
      stack.pushline.grantPublish(role);
      roleId = stack.resolve(
        (role.node.defaultChild as unknown as { logicalId: string }).logicalId,
      ) as string;
    });
    const policies = resourcesOf(s.json, 'AWS::IAM::Policy').filter(([, policy]) =>
      JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`),
    );
    const statements = policies.flatMap(
      ([, policy]) =>
        (policy.Properties.PolicyDocument as { Statement: unknown[] } | undefined)?.Statement ?? [],
    );
    assert.deepEqual(statements, [
      { Action: 'sns:Publish', Effect: 'Allow', Resource: { Ref: logicalIdOf(s.stack, 'Pushline/Topic') } },
    ]);
  });
});

describe('grantPresenceRead', () => {
  it('lets a service role Query the table and its indexes, and nothing else', () => {
    let roleId = '';
    const s = synth({}, (stack) => {
      const role = new iam.Role(stack, 'Service', {
        assumedBy: new iam.ServicePrincipal('ecs-tasks.amazonaws.com'),
      });
      stack.pushline.grantPresenceRead(role);
      roleId = stack.resolve(
        (role.node.defaultChild as unknown as { logicalId: string }).logicalId,
      ) as string;
    });
    const statements = resourcesOf(s.json, 'AWS::IAM::Policy')
      .filter(([, policy]) => JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`))
      .flatMap(
        ([, policy]) =>
          (policy.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] })
            .Statement,
      );
    assert.equal(statements.length, 1);
    assert.equal(statements[0]?.Action, 'dynamodb:Query');
    const table = logicalIdOf(s.stack, 'Pushline/Table');
    const resources = JSON.stringify(statements[0]?.Resource);
    assert.match(resources, new RegExp(`"${table}","Arn"`), 'the table');
    assert.match(resources, /\/index\/\*/, 'its indexes');
  });
});

describe('mobile push', () => {
  const applications =
    'APNS=arn:aws:sns:eu-west-1:123456789012:app/APNS/shop,GCM=arn:aws:sns:eu-west-1:123456789012:app/GCM/shop';

  function environmentOf(s: Synthesized, fn: 'Message' | 'Deliver' | 'Fanout'): Record<string, unknown> {
    const resource = s.json.Resources[logicalIdOf(s.stack, `Pushline/${fn}`)];
    if (!resource) throw new Error(`No function ${fn} in the template`);
    return (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  }

  it('gives the message and deliver functions the applications, and deliver the opted-in types', () => {
    const s = synth({ mobilePushTypes: 'chat.text, chat.image', mobilePushApplications: applications });
    assert.equal(environmentOf(s, 'Message')[ENV.pushApplications], applications);
    assert.equal(environmentOf(s, 'Message')[ENV.pushTypes], undefined);
    assert.equal(environmentOf(s, 'Deliver')[ENV.pushApplications], applications);
    assert.equal(environmentOf(s, 'Deliver')[ENV.pushTypes], 'chat.text,chat.image');
    assert.equal(environmentOf(s, 'Fanout')[ENV.pushApplications], undefined, 'topics get no mobile push');
  });

  it('creates no platform application and puts no credential in the template', () => {
    const s = synth({ mobilePushTypes: 'chat.text', mobilePushApplications: applications });
    const text = JSON.stringify(s.json);
    assert.doesNotMatch(text, /PlatformCredential|PlatformPrincipal|CreatePlatformApplication/);
    assert.equal(resourcesOf(s.json, 'Custom::SnsPlatformApplication').length, 0);
  });

  it('sets nothing for mobile push by default', () => {
    const s = synth();
    for (const fn of ['Message', 'Deliver'] as const) {
      assert.equal(environmentOf(s, fn)[ENV.pushApplications], undefined);
      assert.equal(environmentOf(s, fn)[ENV.pushTypes], undefined);
    }
  });

  it('refuses types without applications, and applications that are not SNS platform applications', () => {
    assert.throws(() => synth({ mobilePushTypes: 'chat.text' }), /needs mobilePushApplications/);
    assert.throws(
      () => synth({ mobilePushApplications: 'APNS=arn:aws:sns:eu-west-1:123456789012:shop' }),
      /not an SNS platform application ARN/,
    );
    assert.throws(
      () => synth({ mobilePushApplications: 'APNS=arn:aws:sns:eu-west-1:123456789012:app/GCM/shop' }),
      /another platform than APNS/,
    );
    assert.throws(
      () => synth({ mobilePushApplications: 'WNS=arn:aws:sns:eu-west-1:123456789012:app/WNS/shop' }),
      { name: 'SettingsError' },
    );
    assert.throws(
      () =>
        synth({}, (stack) => {
          new Pushline(stack, 'Empty', {
            auth: { jwksUrl: 'https://issuer.example/jwks.json', issuer: 'https://issuer.example/' },
            mobilePush: { types: ['chat.text'], applications: {} },
          });
        }),
      /at least one platform application/,
    );
  });
});
