import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

const scripts = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> })
  .scripts;

describe('the npm test command', () => {
  // Inside an npm script, PATH starts with node_modules/.bin, where the node@22 devDependency puts
  // a `node`: a nested `npm run` (whose shebang finds `node` on PATH) then runs on Node 22, and so
  // does every test tier it starts. The first pass must name the Node that ran `npm test`.
  it('runs its first pass on the Node that ran npm, not on the node@22 devDependency', () => {
    assert.match(String(scripts.test), /PUSHLINE_TEST_NODE="\$npm_node_execpath" npm run test:tiers/);
  });

  it('runs its second pass on Node 22', () => {
    assert.match(String(scripts.test), /npm run test:node22$/);
    assert.match(String(scripts['test:node22']), /PUSHLINE_TEST_NODE=node_modules\/node\/bin\/node/);
  });
});
