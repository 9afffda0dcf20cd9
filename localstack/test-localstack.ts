/**
 * `npm run test:localstack`: runs the integration scenarios against the stack that
 * `npm run deploy:localstack` deployed to LocalStack, instead of the local runtime. It reports
 * whether the image emulates API Gateway v2 (WebSocket scenarios need it; the free image does not)
 * rather than failing on it. Arguments name the test files; by default, test/integration/*.test.ts.
 */
import { spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import {
  type ExternalOutputs,
  LOCALSTACK_CREDENTIALS,
  LOCALSTACK_REGION,
  localStackEndpoint,
  OUTPUTS_FILE,
  probeWebSocketSupport,
  readJson,
  scenarioEnvironment,
  waitForLocalStack,
} from './localstack.ts';

const endpoint = localStackEndpoint();
const health = await waitForLocalStack(endpoint, 10_000);
const outputs = await readJson<ExternalOutputs>(OUTPUTS_FILE, 'npm run deploy:localstack');
const support = await probeWebSocketSupport(endpoint);

let jwtSecret: string | undefined;
if (outputs.JwtSecretArn) {
  const secrets = new SecretsManagerClient({
    endpoint,
    region: LOCALSTACK_REGION,
    credentials: {
      accessKeyId: LOCALSTACK_CREDENTIALS.AWS_ACCESS_KEY_ID,
      secretAccessKey: LOCALSTACK_CREDENTIALS.AWS_SECRET_ACCESS_KEY,
    },
  });
  jwtSecret = (await secrets.send(new GetSecretValueCommand({ SecretId: outputs.JwtSecretArn })))
    .SecretString;
}

const files = process.argv.length > 2 ? process.argv.slice(2) : await defaultScenarioFiles();
console.log(
  `Target: LocalStack ${health.version ?? '?'} (${health.edition ?? 'unknown edition'}) at ${endpoint}`,
);
console.log(
  support.available
    ? `WebSocket scenarios: run (API Gateway v2 is emulated; ${outputs.WebSocketUrl}).`
    : `WebSocket scenarios: not run — this image has no API Gateway v2 (a paid LocalStack plan). ${support.detail}`,
);
console.log(`Scenario files: ${files.join(', ')}`);

const code = await new Promise<number>((resolvePromise, reject) => {
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
    env: {
      ...process.env,
      ...scenarioEnvironment({ endpoint, outputsFile: resolve(OUTPUTS_FILE), support, jwtSecret }),
    },
    stdio: 'inherit',
  });
  child.once('error', reject);
  child.once('exit', (exitCode, signal) => resolvePromise(exitCode ?? (signal ? 1 : 0)));
});
console.log(
  `\nLocalStack run finished (exit ${code}). WebSocket scenarios ${support.available ? 'ran' : 'did not run (no API Gateway v2 in this image)'}.`,
);
process.exitCode = code;

/** The scenario files: those written against a target (test/support/target.ts), not a local piece. */
async function defaultScenarioFiles(): Promise<string[]> {
  const folder = 'test/integration';
  const files = (await readdir(folder)).filter((file) => file.endsWith('.test.ts')).sort();
  const scenarios: string[] = [];
  for (const file of files) {
    const source = await readFile(join(folder, file), 'utf8');
    if (source.includes('support/target.ts')) scenarios.push(join(folder, file));
  }
  return scenarios;
}
