/**
 * AWS Signature Version 4 for the few requests Pushline signs itself (posts to `@connections`):
 * header signing, no query string, the whole body hashed. The derived signing key depends only on
 * the day, the secret key, the region and the service, so it is computed once a day and kept.
 */
import { createHmac, hash } from 'node:crypto';

/** Credentials as SigV4 needs them. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  /** When temporary credentials stop working; absent for long-term keys. */
  readonly expiration?: Date;
}

/** The parts of a request the signature covers. */
export interface SignableRequest {
  readonly method: string;
  /** The Host header as sent (with the port when it is not the scheme's default). */
  readonly host: string;
  /** The path as sent, each segment percent-encoded once (see {@link escapeUri}); no query string. */
  readonly path: string;
  /** `canonicalPath(path)`, when the caller has it at hand (a fixed prefix computed once). */
  readonly canonicalUri?: string;
  readonly body: string | Uint8Array;
}

/** Headers to send with the request: the signed ones and `authorization`. */
export interface SignedHeaders {
  readonly 'x-amz-date': string;
  readonly 'x-amz-content-sha256': string;
  readonly 'x-amz-security-token'?: string;
  readonly authorization: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';

/** RFC 3986 percent-encoding, as SigV4 and the SDK's path labels use it (`encodeURIComponent` plus `!'()*`). */
export function escapeUri(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, hexEscape);
}

function hexEscape(c: string): string {
  return `%${c.charCodeAt(0).toString(16).toUpperCase()}`;
}

/**
 * The canonical URI of a path as sent: for every service but S3, each segment is encoded again
 * (so `%3D` on the wire is `%253D` here), empty and `.` segments dropped and `..` applied, as the
 * SDK's signer does.
 */
export function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(escapeUri(segment));
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return `/${segments.join('/')}${trailing}`;
}

/** `YYYYMMDDTHHMMSSZ` for an epoch-milliseconds instant. */
export function amzDate(epochMs: number): string {
  const iso = new Date(epochMs).toISOString(); // 2026-12-03T06:10:24.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

/** The derived signing key of a day (`YYYYMMDD`): four chained HMACs, the costly part of a signature. */
export function deriveSigningKey(
  secretAccessKey: string,
  day: string,
  region: string,
  service: string,
): Buffer {
  const kDate = createHmac('sha256', `AWS4${secretAccessKey}`).update(day).digest();
  const kRegion = createHmac('sha256', kDate).update(region).digest();
  const kService = createHmac('sha256', kRegion).update(service).digest();
  return createHmac('sha256', kService).update('aws4_request').digest();
}

/** Signs requests for one region and service; keeps the day's derived key. */
export interface SigV4Signer {
  /** The headers that make `request` a signed request at `epochMs` with `credentials`. */
  sign(request: SignableRequest, credentials: AwsCredentials, epochMs: number): SignedHeaders;
}

/** A signer for `service` (e.g. `execute-api`) in `region`. */
export function createSigV4Signer(region: string, service: string): SigV4Signer {
  let keyFor: { day: string; secret: string; key: Buffer } | undefined;
  // The date header changes once a second: format it once per second, not per request.
  let dateFor: { second: number; text: string } | undefined;

  const signingKey = (day: string, secret: string): Buffer => {
    if (keyFor?.day === day && keyFor.secret === secret) return keyFor.key;
    const key = deriveSigningKey(secret, day, region, service);
    keyFor = { day, secret, key };
    return key;
  };

  return {
    sign(request, credentials, epochMs) {
      const second = Math.floor(epochMs / 1000);
      if (dateFor?.second !== second) dateFor = { second, text: amzDate(second * 1000) };
      const date = dateFor.text;
      const day = date.slice(0, 8);
      const scope = `${day}/${region}/${service}/aws4_request`;
      // One-shot hashes: a Hash object per call costs more than the hashing of a small frame.
      const payloadHash = hash('sha256', request.body, 'hex');
      const token = credentials.sessionToken;
      // Lower-case names in sorted order: host < x-amz-content-sha256 < x-amz-date < x-amz-security-token.
      const signedHeaders =
        token === undefined
          ? 'host;x-amz-content-sha256;x-amz-date'
          : 'host;x-amz-content-sha256;x-amz-date;x-amz-security-token';
      const canonicalHeaders =
        `host:${request.host.trim()}\nx-amz-content-sha256:${payloadHash}\nx-amz-date:${date}\n` +
        (token === undefined ? '' : `x-amz-security-token:${token.trim()}\n`);
      const uri = request.canonicalUri ?? canonicalPath(request.path);
      const canonicalRequest = `${request.method}\n${uri}\n\n${canonicalHeaders}\n${signedHeaders}\n${payloadHash}`;
      const stringToSign = `${ALGORITHM}\n${date}\n${scope}\n${hash('sha256', canonicalRequest, 'hex')}`;
      const signature = createHmac('sha256', signingKey(day, credentials.secretAccessKey))
        .update(stringToSign)
        .digest('hex');
      return {
        'x-amz-date': date,
        'x-amz-content-sha256': payloadHash,
        ...(token === undefined ? {} : { 'x-amz-security-token': token }),
        authorization: `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`,
      };
    },
  };
}
