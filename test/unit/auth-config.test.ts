import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { loadAuthConfig } from '../../functions/auth/auth-config.ts';
import { ENV } from '../../functions/shared/environment.ts';
import { ConfigError } from '../../functions/shared/errors.ts';
import { LOCAL_JWT_SECRET } from '../../local/tokens.ts';

describe("the authorizer's configuration from its environment", () => {
  afterEach(() => {
    delete process.env[ENV.jwtSecret];
    delete process.env[ENV.jwtAllowNoExpiry];
  });

  it('accepts tokens without exp only when the environment says true', async () => {
    process.env[ENV.jwtSecret] = LOCAL_JWT_SECRET;
    assert.equal((await loadAuthConfig()).allowNoExpiry, false);

    for (const [value, allowed] of [
      ['true', true],
      ['false', false],
      ['', false],
    ] as const) {
      process.env[ENV.jwtAllowNoExpiry] = value;
      assert.equal((await loadAuthConfig()).allowNoExpiry, allowed, `for ${JSON.stringify(value)}`);
    }
  });

  it('refuses a value that is neither true nor false, naming the variable', async () => {
    process.env[ENV.jwtSecret] = LOCAL_JWT_SECRET;
    process.env[ENV.jwtAllowNoExpiry] = 'yes';
    await assert.rejects(loadAuthConfig(), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /PUSHLINE_JWT_ALLOW_NO_EXP must be true or false, not "yes"/);
      return true;
    });
  });
});
