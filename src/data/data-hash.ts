import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';

/**
 * HMAC-SHA256 of Secret data under a per-install key: equal data gives equal hashes, so the
 * operator detects change and drift (and status can show it) without storing or exposing a
 * value. A plain hash would let anyone who reads status test guesses of a short secret.
 */
export class DataHasher {
  /** A KeyObject made once: createHmac with a Buffer key builds a new one for every hash. */
  private readonly key: KeyObject;

  constructor(key: Buffer) {
    if (key.length < 32) throw new Error('the data-hash key must be at least 32 bytes');
    this.key = createSecretKey(key);
  }

  /** Hash of a data map; key order does not matter. */
  hash(data: Record<string, Buffer>): string {
    return this.digest(data, (value) => value);
  }

  /** Hash of a Secret's base64 data as the API serves it. */
  hashEncoded(data: Record<string, string> | undefined): string {
    return this.digest(data ?? {}, (value) => Buffer.from(value, 'base64'));
  }

  private digest<V>(data: Record<string, V>, bytesOf: (value: V) => Buffer): string {
    const mac = createHmac('sha256', this.key);
    for (const name of Object.keys(data).sort()) {
      const value = bytesOf(data[name]!);
      // Length prefixes keep {a:"bc"} and {ab:"c"} apart.
      mac.update(`${Buffer.byteLength(name)}:${name}:${value.length}:`);
      mac.update(value);
    }
    return `hmac-sha256:${mac.digest('hex')}`;
  }
}
