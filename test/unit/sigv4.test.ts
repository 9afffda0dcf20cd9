import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  type AwsCredentials,
  amzDate,
  canonicalPath,
  createSigV4Signer,
  deriveSigningKey,
  escapeUri,
} from '../../functions/adapters/sigv4.ts';
import { NodeSha256 } from '../support/sha256.ts';

/** The Authorization header @smithy/signature-v4 (what the SDK signs with) gives the same request. */
async function sdkAuthorization(
  request: { method: string; host: string; path: string; body: string; payloadHash: string },
  credentials: AwsCredentials,
  region: string,
  epochMs: number,
): Promise<string> {
  const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: NodeSha256 });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'https:',
      hostname: request.host,
      path: request.path,
      query: {},
      headers: { host: request.host, 'x-amz-content-sha256': request.payloadHash },
      body: request.body,
    },
    { signingDate: new Date(epochMs) },
  );
  return String(signed.headers.authorization);
}

const EXAMPLE = {
  accessKeyId: 'AKIDEXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY',
};
const HOST = 'abc123.execute-api.eu-west-1.amazonaws.com';
const AT = Date.parse('2026-12-03T06:10:24.123Z');

describe('SigV4 signing of management API requests', () => {
  it('derives the signing key of AWS’s published example', () => {
    // docs.aws.amazon.com, "Examples of how to derive a signing key for Signature Version 4".
    assert.equal(
      deriveSigningKey(EXAMPLE.secretAccessKey, '20120215', 'us-east-1', 'iam').toString('hex'),
      'f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d',
    );
  });

  it('formats the date header to the second', () => {
    assert.equal(amzDate(AT), '20261203T061024Z');
  });

  it('encodes path segments as RFC 3986 does, and the canonical path twice', () => {
    assert.equal(escapeUri("R0oX/Ad+fD0k w'CH6w=!*()~"), 'R0oX%2FAd%2BfD0k%20w%27CH6w%3D%21%2A%28%29~');
    assert.equal(canonicalPath('/prod/@connections/R0oX%3D'), '/prod/%40connections/R0oX%253D');
    assert.equal(canonicalPath('/a//./b/../c/'), '/a/c/');
  });

  const cases = [
    {
      name: 'a post with a session token',
      method: 'POST',
      path: '/prod/@connections/R0oXAdfD0kwCH6w%3D',
      body: '{"kind":"message","data":"héllo"}',
      sessionToken: 'FwoGZXIvYXdzE'.repeat(20),
    },
    {
      name: 'a post with long-term keys',
      method: 'POST',
      path: '/prod/@connections/abc',
      body: 'x'.repeat(5000),
    },
    {
      name: 'a delete with an empty body',
      method: 'DELETE',
      path: '/prod/@connections/R0oX%2FAd%2BfD0k%3D',
      body: '',
      sessionToken: 'token',
    },
    {
      name: 'a post under a custom domain’s base path',
      method: 'POST',
      path: '/ws/v1/@connections/id%27quoted%27',
      body: '{}',
    },
  ];
  for (const c of cases) {
    it(`signs ${c.name} exactly as the SDK’s signer does`, async () => {
      const credentials = { ...EXAMPLE, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) };
      const signed = createSigV4Signer('eu-west-1', 'execute-api').sign(
        { method: c.method, host: HOST, path: c.path, body: c.body },
        credentials,
        AT,
      );
      const payloadHash = createHash('sha256').update(c.body).digest('hex');
      assert.equal(signed['x-amz-content-sha256'], payloadHash);
      assert.equal(signed['x-amz-date'], '20261203T061024Z');
      assert.equal(signed['x-amz-security-token'], c.sessionToken);
      assert.equal(
        signed.authorization,
        await sdkAuthorization({ ...c, host: HOST, payloadHash }, credentials, 'eu-west-1', AT),
      );
    });
  }

  it('gives the same signature with a precomputed canonical URI', () => {
    const signer = createSigV4Signer('eu-west-1', 'execute-api');
    const request = { method: 'POST', host: HOST, path: '/prod/@connections/a%3D', body: 'hi' };
    assert.equal(
      signer.sign({ ...request, canonicalUri: '/prod/%40connections/a%253D' }, EXAMPLE, AT).authorization,
      signer.sign(request, EXAMPLE, AT).authorization,
    );
  });

  it('derives a new key when the day or the secret changes, not reusing the kept one', async () => {
    const signer = createSigV4Signer('eu-west-1', 'execute-api');
    const request = { method: 'POST', host: HOST, path: '/prod/@connections/abc', body: 'hi' };
    const payloadHash = createHash('sha256').update('hi').digest('hex');
    const rotated = { accessKeyId: 'AKIDROTATED', secretAccessKey: 'another-secret' };
    const nextDay = AT + 24 * 3600_000;
    // Same signer, in this order: the key kept from each call must not leak into the next.
    for (const [credentials, at] of [
      [EXAMPLE, AT],
      [EXAMPLE, nextDay],
      [rotated, nextDay],
      [EXAMPLE, AT],
    ] as const) {
      assert.equal(
        signer.sign(request, credentials, at).authorization,
        await sdkAuthorization({ ...request, payloadHash }, credentials, 'eu-west-1', at),
      );
    }
  });
});
