import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { createApp } from '../../infra/pushline-stack.ts';
import { synth } from './synth.ts';

/** Findings as `RuleId resource-path`, one per violating resource. */
function findings(scope: IConstruct): string[] {
  const report = new AwsSolutionsChecks().validateScope(scope);
  return report.violations.flatMap((violation) =>
    violation.violatingResources.map((resource) => `${violation.ruleName} ${resource.constructPath}`),
  );
}

describe('cdk-nag AwsSolutions checks', () => {
  it('find nothing unacknowledged in the default stack', () => {
    assert.deepEqual(findings(synth().app), []);
  });

  it('find nothing unacknowledged with JWKS tokens in the query string and a customer managed topic key', () => {
    const { app } = synth({
      jwksUrl: 'https://issuer.example/.well-known/jwks.json',
      issuer: 'https://issuer.example/',
      tokenSource: 'query',
      topicEncryption: 'kms',
      removalPolicy: 'destroy',
    });
    assert.deepEqual(findings(app), []);
  });

  it('find nothing unacknowledged with mobile push on the deployer’s platform applications', () => {
    const { app } = synth({
      mobilePushTypes: 'chat.text',
      mobilePushApplications:
        'APNS=arn:aws:sns:eu-west-1:123456789012:app/APNS/shop,GCM=arn:aws:sns:eu-west-1:123456789012:app/GCM/shop',
    });
    assert.deepEqual(findings(app), []);
  });

  it('accept an unencrypted topic only as an acknowledged, explicit choice', () => {
    const { app, stack } = synth({ topicEncryption: 'none' });
    assert.deepEqual(findings(app), []);
    const acknowledged = stack.pushline.topic.node.metadata.filter(
      (entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY,
    );
    assert.match(JSON.stringify(acknowledged), /AwsSolutions-SNS2/);
  });

  it('still report a non-compliant resource added next to the construct', () => {
    const { app } = synth({}, (stack) => {
      new sqs.Queue(stack, 'Careless');
    });
    assert.deepEqual(findings(app).sort(), [
      'AwsSolutions-SQS3 PushlineStack/Careless/Resource',
      'AwsSolutions-SQS4 PushlineStack/Careless/Resource',
    ]);
  });

  it('acknowledge each finding on the resource it concerns, with a reason, never for a whole stack', () => {
    const { app } = synth();
    const acknowledgments: { path: string; id: string; reason: string }[] = [];
    for (const construct of app.node.findAll()) {
      for (const entry of construct.node.metadata) {
        if (entry.type !== Validations.ACKNOWLEDGED_RULES_METADATA_KEY) continue;
        for (const [id, value] of Object.entries(entry.data as Record<string, unknown>)) {
          const reason = typeof value === 'string' ? value : String((value as { reason?: unknown }).reason);
          acknowledgments.push({ path: construct.node.path, id, reason });
        }
      }
      if (construct instanceof Stack || construct.node.path === 'PushlineStack/Pushline') {
        assert.equal(
          construct.node.metadata.some((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY),
          false,
          `${construct.node.path} acknowledges findings for everything below it`,
        );
      }
    }
    assert.ok(acknowledgments.length > 0);
    for (const { path, id, reason } of acknowledgments) {
      assert.match(id, /^(Annotation::)?AwsSolutions-\w+/, path);
      assert.ok(reason.length >= 40, `${path} ${id}: the reason is too thin: "${reason}"`);
    }
  });

  it('let the app synthesize with the checks and the CloudFormation schema validation on, as `npm run synth` does', async () => {
    const outdir = await mkdtemp(join(tmpdir(), 'pushline-nag-'));
    try {
      const { app, stack } = createApp({ context: { 'aws:cdk:bundling-stacks': [] }, outdir });
      const assembly = app.synth();
      assert.ok(assembly.getStackByName(stack.stackName).template);
    } finally {
      await rm(outdir, { recursive: true, force: true });
    }
  });
});
