#!/usr/bin/env node
// Runs the TypeScript CLI from a checkout: registers tsx, then loads the real entry point.
import { register } from 'tsx/esm/api';

register();
await import('./pushline.ts');
