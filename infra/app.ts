/**
 * The CDK app of `cdk.json` (`node --import tsx infra/app.ts`). Configure it with context, e.g.
 * `npx cdk deploy -c jwksUrl=… -c issuer=…`; see docs/deploy.md for every key.
 */
import { createApp } from './pushline-stack.ts';

createApp().app.synth();
