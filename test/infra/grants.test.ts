import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { TABLE_ACTIONS } from '../../infra/pushline.ts';
import {
  analyzeHandler,
  COMMAND_ACTIONS,
  HANDLERS,
  type HandlerCode,
  type HandlerName,
  MOBILE_PUSH_ACTIONS,
} from './handler-code.ts';
import { logicalIdOf, resourcesOf, type Synthesized, synth } from './synth.ts';

/** Every action the function's role policy allows. */
function grantedActions(s: Synthesized, name: HandlerName): Set<string> {
  const roleId = logicalIdOf(s.stack, `Pushline/${name.charAt(0).toUpperCase()}${name.slice(1)}Role`);
  const actions = new Set<string>();
  for (const [, policy] of resourcesOf(s.json, 'AWS::IAM::Policy')) {
    if (!JSON.stringify(policy.Properties.Roles).includes(`"${roleId}"`)) continue;
    const statements = (policy.Properties.PolicyDocument as { Statement: { Action: string | string[] }[] })
      .Statement;
    for (const statement of statements)
      for (const action of ([] as string[]).concat(statement.Action)) actions.add(action);
  }
  return actions;
}

function neededActions(code: HandlerCode, name: HandlerName): string[] {
  return [...code.commands].map((command) => {
    const action = COMMAND_ACTIONS[command];
    assert.ok(
      action,
      `${name} sends ${command}, which test/infra/handler-code.ts does not map to an IAM action yet`,
    );
    return action;
  });
}

/** Mobile push on two platform applications of the deployer. */
const MOBILE_PUSH_CONTEXT = {
  mobilePushTypes: 'chat.text',
  mobilePushApplications:
    'APNS=arn:aws:sns:eu-west-1:123456789012:app/APNS/shop,GCM=arn:aws:sns:eu-west-1:123456789012:app/GCM/shop',
};

describe('least-privilege grants', () => {
  let s: Synthesized;
  let plain: Synthesized;
  const code = new Map<HandlerName, HandlerCode>();
  before(async () => {
    // Every optional feature on, so that every call the code can make must have its grant.
    s = synth({ ...MOBILE_PUSH_CONTEXT, events: 'true', services: 'robot' });
    plain = synth();
    for (const name of HANDLERS) code.set(name, await analyzeHandler(name));
  });

  it('grant no SNS platform endpoint action to any function without mobile push', () => {
    for (const name of HANDLERS) {
      const granted = [...grantedActions(plain, name)].filter((action) => MOBILE_PUSH_ACTIONS.has(action));
      assert.deepEqual(granted, [], name);
    }
  });

  it('grant mobile push on the deployer’s applications and their endpoints only', () => {
    const statements = resourcesOf(s.json, 'AWS::IAM::Policy').flatMap(
      ([, policy]) =>
        (
          policy.Properties.PolicyDocument as {
            Statement: { Action: string | string[]; Resource: unknown }[];
          }
        ).Statement,
    );
    for (const statement of statements) {
      const actions = ([] as string[]).concat(statement.Action);
      if (!actions.some((action) => MOBILE_PUSH_ACTIONS.has(action))) continue;
      const resources = ([] as unknown[]).concat(statement.Resource);
      if (actions.includes('sns:CreatePlatformEndpoint')) {
        assert.deepEqual(actions, ['sns:CreatePlatformEndpoint']);
        assert.deepEqual(resources, [
          'arn:aws:sns:eu-west-1:123456789012:app/APNS/shop',
          'arn:aws:sns:eu-west-1:123456789012:app/GCM/shop',
        ]);
      } else {
        assert.deepEqual(resources, [
          'arn:aws:sns:eu-west-1:123456789012:endpoint/APNS/shop/*',
          'arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/shop/*',
        ]);
      }
    }
    assert.ok(grantedActions(s, 'deliver').has('sns:Publish'));
    for (const name of ['authorizer', 'connect', 'disconnect', 'fanout'] as const) {
      const granted = [...grantedActions(s, name)].filter((action) => MOBILE_PUSH_ACTIONS.has(action));
      assert.deepEqual(granted, [], name);
    }
  });

  for (const name of HANDLERS) {
    it(`give ${name} exactly the DynamoDB operations its code sends`, () => {
      const needed = neededActions(code.get(name) as HandlerCode, name).filter((action) =>
        action.startsWith('dynamodb:'),
      );
      assert.deepEqual([...new Set(needed)].sort(), [...TABLE_ACTIONS[name]].sort());
      const granted = [...grantedActions(s, name)].filter((action) => action.startsWith('dynamodb:'));
      assert.deepEqual(granted.sort(), [...TABLE_ACTIONS[name]].sort());
    });

    it(`give ${name} every other permission its SDK calls need`, () => {
      const granted = grantedActions(s, name);
      for (const action of neededActions(code.get(name) as HandlerCode, name)) {
        assert.ok(granted.has(action), `${name} needs ${action}`);
      }
    });
  }
});
