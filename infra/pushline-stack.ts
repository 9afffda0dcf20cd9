import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { Construct, Node } from 'constructs';
import { MANAGEMENT_CLIENTS, type ManagementClient } from '../functions/shared/management-client.ts';
import { type PushApplications, parseApplications } from '../functions/shared/mobile-push.ts';
import {
  Pushline,
  type PushlineAuth,
  type PushlineMobilePush,
  TokenSource,
  TopicEncryption,
} from './pushline.ts';

/** Name of the project's stack (and of its construct id). */
export const DEFAULT_STACK_NAME = 'PushlineStack';

/** Settings of the project's stack; `settingsFromContext` reads them from CDK context (`-c key=value`). */
export interface PushlineSettings {
  /** JWKS URL of the identity provider; with `issuer`, selects JWKS verification. */
  readonly jwksUrl?: string;
  /** Expected `iss` claim (required with `jwksUrl`). */
  readonly issuer?: string;
  /** Accepted `aud` claims. */
  readonly audience?: readonly string[];
  /** Accept tokens without `exp` (they never expire). @default false */
  readonly allowTokensWithoutExpiry?: boolean;
  /** @default 'prod' */
  readonly stageName?: string;
  /** @default TokenSource.QUERY_OR_PROTOCOL */
  readonly tokenSource?: TokenSource;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** @default 256 */
  readonly memorySize?: number;
  /** @default lambda.Architecture.ARM_64 */
  readonly architecture?: lambda.Architecture;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default 32 */
  readonly deliveryConcurrency?: number;
  /** `http` or `sdk`: see PushlineProps.managementClient. @default 'http' */
  readonly managementClient?: ManagementClient;
  /** @default 500 */
  readonly throttleRate?: number;
  /** @default 1000 */
  readonly throttleBurst?: number;
  /** `aws-managed`, `none`, or `kms` (a customer managed key with rotation, created in the stack). @default 'aws-managed' */
  readonly topicEncryption?: 'aws-managed' | 'none' | 'kms';
  /** An existing SNS topic receiving alarm notifications. @default - no alarm actions */
  readonly alarmTopicArn?: string;
  /** @default true */
  readonly apiGatewayCloudWatchRole?: boolean;
  /** Token claim naming the topics a user may join. @default 'topics' */
  readonly topicClaim?: string;
  /** Topic patterns anyone may join (comma-separated in context). @default none */
  readonly openTopics?: readonly string[];
  /** Presence topic patterns (comma-separated in context). @default none */
  readonly presenceTopics?: readonly string[];
  /** @default 2000 */
  readonly fanoutMaxPostsPerSecond?: number;
  /** @default 4 */
  readonly fanoutConcurrency?: number;
  /** @default 5000 */
  readonly fanoutConnectionsPerInvocation?: number;
  /** Let users send to other users. @default true */
  readonly sendToUsers?: boolean;
  /** A connection's average sends per second. @default 10 */
  readonly sendRatePerSecond?: number;
  /** Sends a connection may make at once. @default 20 */
  readonly sendBurst?: number;
  /** Backend services clients may send to (comma-separated in context). @default none */
  readonly services?: readonly string[];
  /** Message types no user can mute (comma-separated in context). @default none */
  readonly mandatoryTypes?: readonly string[];
  /** Publish receipts and lifecycle events to an events topic. @default false */
  readonly events?: boolean;
  /** Message types sent by mobile push to users no connection took (comma-separated in context). @default none */
  readonly mobilePushTypes?: readonly string[];
  /**
   * The SNS platform applications devices may register with, as `PLATFORM=arn` pairs
   * (comma-separated in context: `APNS=arn:aws:sns:…:app/APNS/my-app,GCM=…`). @default none (no mobile push)
   */
  readonly mobilePushApplications?: PushApplications;
}

/** Properties of {@link PushlineStack}. */
export interface PushlineStackProps extends StackProps {
  /** @default - every setting at its default: a generated HS256 secret, stage 'prod' */
  readonly settings?: PushlineSettings;
}

/**
 * The project's own deployment: one {@link Pushline} construct, a generated HS256 secret when no
 * JWKS provider is configured, and the outputs the clients and the test suite read.
 * The stack is environment-agnostic (no lookups), so `cdk synth` runs offline.
 */
export class PushlineStack extends Stack {
  /** The construct holding every resource. */
  readonly pushline: Pushline;
  /** The generated HS256 secret, when tokens are not checked against a JWKS URL. */
  readonly jwtSecret?: secretsmanager.Secret;

  constructor(scope: Construct, id: string, props: PushlineStackProps = {}) {
    super(scope, id, props);
    const settings = props.settings ?? {};
    const removalPolicy = settings.removalPolicy ?? RemovalPolicy.RETAIN;

    let auth: PushlineAuth;
    if (settings.jwksUrl !== undefined) {
      if (settings.issuer === undefined) {
        throw new SettingsError(
          'issuer',
          'is required with jwksUrl (the expected "iss" claim of the tokens)',
        );
      }
      auth = {
        jwksUrl: settings.jwksUrl,
        issuer: settings.issuer,
        audience: settings.audience,
        allowTokensWithoutExpiry: settings.allowTokensWithoutExpiry,
      };
    } else {
      this.jwtSecret = new secretsmanager.Secret(this, 'JwtSecret', {
        description: 'Pushline: HS256 key that signs client tokens',
        generateSecretString: { passwordLength: 64, excludePunctuation: true },
        removalPolicy,
      });
      Validations.of(this.jwtSecret).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'Rotating the HS256 key invalidates every issued token at once, so it is rotated on purpose together with the token issuer, not on a schedule.',
      });
      auth = {
        secret: this.jwtSecret,
        issuer: settings.issuer,
        audience: settings.audience,
        allowTokensWithoutExpiry: settings.allowTokensWithoutExpiry,
      };
    }

    this.pushline = new Pushline(this, 'Pushline', {
      auth,
      tokenSource: settings.tokenSource,
      stageName: settings.stageName,
      removalPolicy,
      memorySize: settings.memorySize,
      architecture: settings.architecture,
      logRetention: settings.logRetention,
      deliveryConcurrency: settings.deliveryConcurrency,
      managementClient: settings.managementClient,
      throttling: { rateLimit: settings.throttleRate, burstLimit: settings.throttleBurst },
      topicEncryption: topicEncryption(this, settings.topicEncryption ?? 'aws-managed'),
      alarmActions:
        settings.alarmTopicArn === undefined
          ? []
          : [new SnsAction(sns.Topic.fromTopicArn(this, 'AlarmTopic', settings.alarmTopicArn))],
      apiGatewayCloudWatchRole: settings.apiGatewayCloudWatchRole,
      topics: { claim: settings.topicClaim, open: settings.openTopics, presence: settings.presenceTopics },
      fanout: {
        maxPostsPerSecond: settings.fanoutMaxPostsPerSecond,
        concurrency: settings.fanoutConcurrency,
        connectionsPerInvocation: settings.fanoutConnectionsPerInvocation,
      },
      conversations: {
        toUsers: settings.sendToUsers,
        ratePerSecond: settings.sendRatePerSecond,
        burst: settings.sendBurst,
        services: settings.services,
      },
      preferences: { mandatory: settings.mandatoryTypes },
      events: settings.events,
      mobilePush: mobilePushOf(settings),
    });

    // Same keys as the local runtime's outputs, so the test suite targets either with no change.
    new CfnOutput(this, 'WebSocketUrl', {
      value: this.pushline.webSocketUrl,
      description: 'Clients connect here.',
    });
    new CfnOutput(this, 'TopicArn', {
      value: this.pushline.topic.topicArn,
      description: 'Services publish here.',
    });
    new CfnOutput(this, 'TableName', { value: this.pushline.table.tableName });
    if (this.pushline.eventsTopic) {
      new CfnOutput(this, 'EventsTopicArn', {
        value: this.pushline.eventsTopic.topicArn,
        description: 'Receipts and lifecycle events; subscribe with a filter on the event attribute.',
      });
    }
    if (this.pushline.inboundTopic) {
      new CfnOutput(this, 'InboundTopicArn', {
        value: this.pushline.inboundTopic.topicArn,
        description: 'Backend services subscribe here for what clients send them.',
      });
    }
    new CfnOutput(this, 'CallbackUrl', {
      value: this.pushline.callbackUrl,
      description: 'Management API (@connections).',
    });
    new CfnOutput(this, 'RejectedQueueUrl', { value: this.pushline.rejectedQueue.queueUrl });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.pushline.deadLetterQueue.queueUrl });
    if (this.jwtSecret) {
      new CfnOutput(this, 'JwtSecretArn', {
        value: this.jwtSecret.secretArn,
        description: 'HS256 key for minting test tokens (read it with secretsmanager get-secret-value).',
      });
    }
  }
}

/** A context value that cannot be used, named so the user can fix it. */
export class SettingsError extends Error {
  override readonly name = 'SettingsError';
  readonly code = 'INVALID_SETTING';
  constructor(
    readonly key: string,
    problem: string,
  ) {
    super(`Context value "${key}" ${problem}.`);
  }
}

/** Reads {@link PushlineSettings} from CDK context; values given with `-c` arrive as strings. */
export function settingsFromContext(node: Node): PushlineSettings {
  const text = (key: string): string | undefined => {
    const value: unknown = node.tryGetContext(key);
    if (value === undefined || value === null || value === '') return undefined;
    return String(value);
  };
  const int = (key: string): number | undefined => {
    const raw = text(key);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (!Number.isInteger(value) || value <= 0)
      throw new SettingsError(key, `must be a positive integer, got "${raw}"`);
    return value;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
    const raw = text(key);
    if (raw === undefined) return undefined;
    if (!allowed.includes(raw as T))
      throw new SettingsError(key, `must be one of ${allowed.join(', ')}, got "${raw}"`);
    return raw as T;
  };
  const flag = (key: string): boolean | undefined => {
    const raw = oneOf(key, ['true', 'false']);
    return raw === undefined ? undefined : raw === 'true';
  };

  const retentionDays = int('logRetentionDays');
  if (retentionDays !== undefined && !Object.values(logs.RetentionDays).includes(retentionDays)) {
    throw new SettingsError(
      'logRetentionDays',
      `must be a CloudWatch Logs retention (1, 3, 5, 7, 14, 30, 60, 90, …)`,
    );
  }
  const list = (key: string) =>
    text(key)
      ?.split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '');
  const audience = list('audience');
  const removal = oneOf('removalPolicy', ['retain', 'destroy']);
  const architecture = oneOf('architecture', ['arm64', 'x86_64']);
  return {
    jwksUrl: text('jwksUrl'),
    issuer: text('issuer'),
    audience,
    allowTokensWithoutExpiry: flag('allowTokensWithoutExpiry'),
    stageName: text('stageName'),
    tokenSource: oneOf('tokenSource', Object.values(TokenSource)),
    removalPolicy:
      removal === undefined
        ? undefined
        : removal === 'destroy'
          ? RemovalPolicy.DESTROY
          : RemovalPolicy.RETAIN,
    memorySize: int('memorySize'),
    architecture:
      architecture === undefined
        ? undefined
        : architecture === 'arm64'
          ? lambda.Architecture.ARM_64
          : lambda.Architecture.X86_64,
    logRetention: retentionDays as logs.RetentionDays | undefined,
    deliveryConcurrency: int('deliveryConcurrency'),
    managementClient: oneOf('managementClient', MANAGEMENT_CLIENTS),
    throttleRate: int('throttleRate'),
    throttleBurst: int('throttleBurst'),
    topicEncryption: oneOf('topicEncryption', ['aws-managed', 'none', 'kms']),
    alarmTopicArn: text('alarmTopicArn'),
    apiGatewayCloudWatchRole: flag('apiGatewayCloudWatchRole'),
    topicClaim: text('topicClaim'),
    openTopics: list('openTopics'),
    presenceTopics: list('presenceTopics'),
    fanoutMaxPostsPerSecond: int('fanoutMaxPostsPerSecond'),
    fanoutConcurrency: int('fanoutConcurrency'),
    fanoutConnectionsPerInvocation: int('fanoutConnectionsPerInvocation'),
    sendToUsers: flag('sendToUsers'),
    sendRatePerSecond: int('sendRatePerSecond'),
    sendBurst: int('sendBurst'),
    services: list('services'),
    mandatoryTypes: list('mandatoryTypes'),
    events: flag('events'),
    mobilePushTypes: list('mobilePushTypes'),
    mobilePushApplications: applications('mobilePushApplications'),
  };

  function applications(key: string): PushApplications | undefined {
    const raw = text(key);
    if (raw === undefined) return undefined;
    const parsed = parseApplications(raw);
    if (typeof parsed === 'string') throw new SettingsError(key, `is not PLATFORM=arn pairs: ${parsed}`);
    return parsed;
  }
}

/** The construct's mobile push props from the settings: both keys, or neither. */
function mobilePushOf(settings: PushlineSettings): PushlineMobilePush | undefined {
  const applications = settings.mobilePushApplications;
  const hasApplications = applications !== undefined && Object.keys(applications).length > 0;
  if (!hasApplications) {
    if ((settings.mobilePushTypes ?? []).length > 0) {
      throw new SettingsError(
        'mobilePushTypes',
        'needs mobilePushApplications (the SNS platform applications to send through)',
      );
    }
    return undefined;
  }
  return { types: settings.mobilePushTypes ?? [], applications };
}

/** Options of {@link createApp}. */
export interface CreateAppOptions {
  /** Context entries (as `-c` would give), e.g. `{ 'aws:cdk:bundling-stacks': [] }` to skip bundling. */
  readonly context?: Record<string, unknown>;
  /** Cloud assembly directory. @default - the CDK's default (cdk.out under the CLI, a temp dir otherwise) */
  readonly outdir?: string;
  /** Run cdk-nag's AwsSolutions checks at synth (any unacknowledged finding fails synth). @default true */
  readonly nag?: boolean;
  /** Run the CDK's built-in CloudFormation schema validation at synth. @default true */
  readonly validation?: boolean;
}

/** Builds the project's CDK app: the stack configured from context, checked by cdk-nag. */
export function createApp(options: CreateAppOptions = {}): { app: App; stack: PushlineStack } {
  // cdk.json's context (feature flags) applies in-process too, so tests see what `cdk synth` makes.
  const context = { ...projectContext(), ...options.context };
  const app = new App({
    context,
    outdir: options.outdir,
    builtinCloudFormationValidation: options.validation ?? true,
  });
  const stackName = (app.node.tryGetContext('stackName') as string | undefined) ?? DEFAULT_STACK_NAME;
  const stack = new PushlineStack(app, stackName, {
    settings: settingsFromContext(app.node),
    description: 'Pushline: serverless push to users over API Gateway WebSockets',
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, stack };
}

function projectContext(): Record<string, unknown> {
  const file = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'cdk.json');
  if (!existsSync(file)) return {};
  const json = JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> };
  return json.context ?? {};
}

function topicEncryption(scope: Construct, kind: 'aws-managed' | 'none' | 'kms'): TopicEncryption {
  if (kind === 'none') return TopicEncryption.UNENCRYPTED;
  if (kind === 'aws-managed') return TopicEncryption.AWS_MANAGED;
  return TopicEncryption.customerManaged(
    new kms.Key(scope, 'TopicKey', {
      description: 'Pushline: encrypts the publish topic',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
    }),
  );
}
