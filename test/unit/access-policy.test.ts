import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AccessEvaluator, type CallerIdentity, denialMessage } from '../../emulator/access-policy.ts';
import { dynamoAccessRequests, snsAccessRequests } from '../../emulator/aws/access-requests.ts';
import { QueryParams } from '../../emulator/aws/query-protocol.ts';
import { type LocalAddresses, rolePoliciesFromTemplate } from '../../emulator/template-topology.ts';

const TABLE = 'arn:aws:dynamodb:us-east-1:000000000000:table/Items';
const SCOPE = { region: 'us-east-1', accountId: '000000000000' };

const LOCAL: LocalAddresses = {
  callbackUrl: (api, stage) => `http://127.0.0.1:1111/${api}/${stage}`,
  topicArn: (name) => `arn:aws:sns:us-east-1:000000000000:${name}`,
  queueUrl: (name) => `http://127.0.0.1:2222/000000000000/${name}`,
  apiId: (api) => `id-of-${api}`,
};

/** A function with a role, a CDK-style default policy, a managed policy and an inline deny. */
const TEMPLATE = {
  Resources: {
    Items: { Type: 'AWS::DynamoDB::Table', Properties: { TableName: 'Items' } },
    Topic: { Type: 'AWS::SNS::Topic', Properties: {} },
    Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { ProtocolType: 'WEBSOCKET' } },
    Logs: { Type: 'AWS::Logs::LogGroup', Properties: {} },
    WorkerRole: {
      Type: 'AWS::IAM::Role',
      Properties: {
        RoleName: 'worker-role',
        Policies: [
          {
            PolicyName: 'no-deletes',
            PolicyDocument: {
              Statement: [{ Effect: 'Deny', Action: 'dynamodb:Delete*', Resource: '*' }],
            },
          },
        ],
        ManagedPolicyArns: [{ Ref: 'Publishing' }, 'arn:aws:iam::aws:policy/AWSLambdaBasicExecutionRole'],
      },
    },
    WorkerPolicy: {
      Type: 'AWS::IAM::Policy',
      Properties: {
        Roles: [{ Ref: 'WorkerRole' }],
        PolicyDocument: {
          Statement: [
            { Effect: 'Allow', Action: 'logs:PutLogEvents', Resource: { 'Fn::GetAtt': ['Logs', 'Arn'] } },
            {
              Effect: 'Allow',
              Action: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:DeleteItem'],
              Resource: [
                { 'Fn::GetAtt': ['Items', 'Arn'] },
                { 'Fn::Join': ['', [{ 'Fn::GetAtt': ['Items', 'Arn'] }, '/index/*']] },
              ],
            },
            {
              Effect: 'Allow',
              Action: 'execute-api:ManageConnections',
              Resource: {
                'Fn::Join': [
                  '',
                  [
                    'arn:',
                    { Ref: 'AWS::Partition' },
                    ':execute-api:',
                    { Ref: 'AWS::Region' },
                    ':',
                    { Ref: 'AWS::AccountId' },
                    ':',
                    { Ref: 'Api' },
                    '/prod/POST/@connections/*',
                  ],
                ],
              },
            },
          ],
        },
      },
    },
    Publishing: {
      Type: 'AWS::IAM::ManagedPolicy',
      Properties: {
        PolicyDocument: {
          Statement: [{ Effect: 'Allow', Action: 'sns:Publish', Resource: { Ref: 'Topic' } }],
        },
      },
    },
    Worker: {
      Type: 'AWS::Lambda::Function',
      Properties: { Role: { 'Fn::GetAtt': ['WorkerRole', 'Arn'] } },
      Metadata: { 'local:entry': 'functions/worker.ts' },
    },
  },
};

function worker(): CallerIdentity {
  const identities = rolePoliciesFromTemplate(TEMPLATE, LOCAL, { sourceMetadata: { entry: 'local:entry' } });
  const identity = identities.worker;
  assert.ok(identity, 'the worker function has an identity');
  return identity;
}

describe('strict IAM policies', () => {
  it("reads a function's role and every policy attached to it, resolved to local ARNs", () => {
    const identity = worker();
    assert.equal(identity.roleName, 'worker-role');
    assert.equal(identity.sessionName, 'worker');
    const resources = identity.statements.flatMap((statement) => statement.resources ?? []);
    assert.ok(resources.includes(TABLE));
    assert.ok(resources.includes(`${TABLE}/index/*`));
    assert.ok(resources.includes('arn:aws:sns:us-east-1:000000000000:Topic'));
    assert.ok(
      resources.includes('arn:aws:execute-api:us-east-1:000000000000:id-of-Api/prod/POST/@connections/*'),
    );
    // The log group has no local value: that statement keeps no resource, so it matches nothing.
    assert.deepEqual(identity.statements[1]?.resources, []);
  });

  it('allows what a statement grants, including on an index through a wildcard', () => {
    const evaluator = new AccessEvaluator({ accountId: '000000000000', callers: { key: worker() } });
    const caller = evaluator.callerOf(
      'AWS4-HMAC-SHA256 Credential=key/20260101/us-east-1/dynamodb/aws4_request',
    );
    assert.ok(caller);
    const query = dynamoAccessRequests('Query', { TableName: 'Items', IndexName: 'byUser' }, SCOPE);
    assert.deepEqual(query, [{ action: 'dynamodb:Query', resource: `${TABLE}/index/byUser` }]);
    assert.equal(evaluator.check(caller, query), undefined);
    const publish = snsAccessRequests(
      new QueryParams(new URLSearchParams({ Action: 'PublishBatch', TopicArn: LOCAL.topicArn('Topic') })),
      SCOPE,
    );
    assert.equal(evaluator.check(caller, publish), undefined);
  });

  it('refuses an action no statement allows, with the message AWS gives', () => {
    const evaluator = new AccessEvaluator({ accountId: '000000000000', callers: { key: worker() } });
    const denial = evaluator.check(worker(), dynamoAccessRequests('PutItem', { TableName: 'Items' }, SCOPE));
    assert.ok(denial);
    assert.equal(denial.explicit, false);
    assert.equal(
      denialMessage(denial),
      `User: arn:aws:sts::000000000000:assumed-role/worker-role/worker is not authorized to perform: dynamodb:PutItem on resource: ${TABLE} because no identity-based policy allows the dynamodb:PutItem action`,
    );
  });

  it('lets an explicit Deny win over an Allow', () => {
    const evaluator = new AccessEvaluator({ accountId: '000000000000', callers: {} });
    const denial = evaluator.check(
      worker(),
      dynamoAccessRequests('DeleteItem', { TableName: 'Items' }, SCOPE),
    );
    assert.equal(denial?.explicit, true);
    assert.match(
      denialMessage(denial ?? assert.fail()),
      /with an explicit deny in an identity-based policy$/,
    );
  });

  it('checks each table of a batch and each part of a transaction', () => {
    const evaluator = new AccessEvaluator({ accountId: '000000000000', callers: {} });
    const transaction = dynamoAccessRequests(
      'TransactWriteItems',
      { TransactItems: [{ ConditionCheck: { TableName: 'Items' } }, { Put: { TableName: 'Items' } }] },
      SCOPE,
    );
    assert.deepEqual(
      transaction.map((request) => request.action),
      ['dynamodb:ConditionCheckItem', 'dynamodb:PutItem'],
    );
    assert.equal(evaluator.check(worker(), transaction)?.action, 'dynamodb:ConditionCheckItem');
    const batch = dynamoAccessRequests('BatchWriteItem', { RequestItems: { Items: [], Other: [] } }, SCOPE);
    assert.deepEqual(
      batch.map((request) => request.resource),
      [TABLE, 'arn:aws:dynamodb:us-east-1:000000000000:table/Other'],
    );
  });

  it('refuses a management API method the resource pattern leaves out', () => {
    const evaluator = new AccessEvaluator({ accountId: '000000000000', callers: {} });
    const arn = 'arn:aws:execute-api:us-east-1:000000000000:id-of-Api/prod';
    const action = 'execute-api:ManageConnections';
    assert.equal(
      evaluator.check(worker(), [{ action, resource: `${arn}/POST/@connections/abc=` }]),
      undefined,
    );
    assert.ok(evaluator.check(worker(), [{ action, resource: `${arn}/DELETE/@connections/abc=` }]));
  });

  it('applies an Allow with a condition as if it held, and leaves out a Deny with one', () => {
    const evaluator = new AccessEvaluator({ accountId: '000000000000', callers: {} });
    const caller: CallerIdentity = {
      roleName: 'r',
      sessionName: 's',
      statements: [
        { effect: 'Allow', actions: ['sqs:*'], resources: ['*'], conditional: true },
        { effect: 'Deny', actions: ['sqs:SendMessage'], resources: ['*'], conditional: true },
      ],
    };
    assert.equal(
      evaluator.check(caller, [{ action: 'sqs:SendMessage', resource: 'arn:aws:sqs:x' }]),
      undefined,
    );
  });

  it('does not check a caller signing with a key it does not know', () => {
    const evaluator = new AccessEvaluator({ accountId: '000000000000', callers: { key: worker() } });
    assert.equal(
      evaluator.callerOf('AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/sns/aws4_request'),
      undefined,
    );
    assert.equal(evaluator.callerOf(undefined), undefined);
  });
});
