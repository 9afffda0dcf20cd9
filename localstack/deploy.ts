/**
 * `npm run deploy:localstack`: deploys the project's CDK app to the LocalStack that
 * `npm run localstack:up` started, with the `aws-cdk-local` wrapper (`cdklocal`), and writes the
 * outputs the scenarios read. Extra arguments go to `cdklocal deploy` (e.g. `-c stageName=dev`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  CDK_OUTPUTS_FILE,
  externalOutputs,
  LOCALSTACK_CREDENTIALS,
  LOCALSTACK_REGION,
  LocalStackError,
  localStackEndpoint,
  OUTPUTS_FILE,
  probeWebSocketSupport,
  readJson,
  waitForLocalStack,
  writeJson,
} from './localstack.ts';

const endpoint = localStackEndpoint();
const health = await waitForLocalStack(endpoint, 60_000);
console.log(`LocalStack ${health.version ?? '?'} (${health.edition ?? 'unknown edition'}) at ${endpoint}`);
const support = await probeWebSocketSupport(endpoint);
console.log(
  support.available
    ? 'API Gateway v2 is emulated: the WebSocket API will be deployed.'
    : `API Gateway v2 is not emulated by this image (${support.detail}).\nIts resources are skipped; SNS → Lambda → DynamoDB still deploys.`,
);

// A developer's own AWS settings must never steer this deployment to a real account.
const env: NodeJS.ProcessEnv = {
  ...process.env,
  ...LOCALSTACK_CREDENTIALS,
  AWS_ENDPOINT_URL: endpoint,
  AWS_REGION: LOCALSTACK_REGION,
  AWS_DEFAULT_REGION: LOCALSTACK_REGION,
};
for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'AWS_ROLE_ARN', 'AWS_WEB_IDENTITY_TOKEN_FILE'])
  delete env[name];

// The devDependency when present, else npx fetches the wrapper into its cache (package.json untouched).
const local = resolve('node_modules/.bin/cdklocal');
const cdklocal = existsSync(local) ? [local] : ['npx', '--yes', '--package', 'aws-cdk-local@^3', 'cdklocal'];

await run([...cdklocal, 'bootstrap'], env);
await run(
  [
    ...cdklocal,
    'deploy',
    '--require-approval',
    'never',
    '--outputs-file',
    CDK_OUTPUTS_FILE,
    // A throwaway environment: everything goes with the stack.
    '-c',
    'removalPolicy=destroy',
    ...process.argv.slice(2),
  ],
  env,
);

const outputs = externalOutputs(
  await readJson<Record<string, Record<string, string>>>(CDK_OUTPUTS_FILE, 'npm run deploy:localstack'),
  endpoint,
  support,
);
await writeJson(OUTPUTS_FILE, outputs);
console.log(`Outputs written to ${OUTPUTS_FILE}. Run the scenarios with \`npm run test:localstack\`.`);

function run(command: readonly string[], childEnv: NodeJS.ProcessEnv): Promise<void> {
  const [file, ...args] = command as [string, ...string[]];
  console.log(`$ ${command.join(' ')}`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { env: childEnv, stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolvePromise();
      else
        reject(
          new LocalStackError(
            'COMMAND_FAILED',
            `${command.slice(0, 2).join(' ')}… exited with ${signal ?? code}.`,
          ),
        );
    });
  });
}
