/**
 * Fernet tokens (https://github.com/fernet/spec) on node:crypto: AES-128-CBC with PKCS#7 padding,
 * authenticated by HMAC-SHA256 over version, timestamp, IV and ciphertext. The same tokens
 * Python's `cryptography.fernet` and the npm `fernet` package make and read.
 *
 * Why not the `fernet` package DESIGN.md names: it runs on crypto-js (no longer developed), whose
 * decryption allocated about 30 KB per token. A pass reads every stored key, so at 10,000 add-ons
 * that was 300 MB of garbage a pass; node:crypto does the same work in native code.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const VERSION = 0x80;
const HEADER_BYTES = 1 + 8 + 16;
const HMAC_BYTES = 32;

/** A Fernet key: 32 bytes, the first half signs, the second half encrypts. */
export interface FernetKey {
  readonly signing: Buffer;
  readonly encryption: Buffer;
}

export function fernetKey(bytes: Buffer): FernetKey {
  if (bytes.length !== 32) throw new RangeError('a Fernet key is 32 bytes');
  return { signing: bytes.subarray(0, 16), encryption: bytes.subarray(16) };
}

/** Encrypts `plain` (UTF-8) into a url-safe base64 token with padding, as Python writes it. */
export function encryptToken(key: FernetKey, plain: string, now: Date = new Date(), iv: Buffer = randomBytes(16)): string {
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = VERSION;
  header.writeBigUInt64BE(BigInt(Math.floor(now.getTime() / 1000)), 1);
  iv.copy(header, 9);
  const cipher = createCipheriv('aes-128-cbc', key.encryption, iv);
  const signed = Buffer.concat([header, cipher.update(plain, 'utf8'), cipher.final()]);
  const hmac = createHmac('sha256', key.signing).update(signed).digest();
  return Buffer.concat([signed, hmac]).toString('base64url').padEnd(Math.ceil((signed.length + HMAC_BYTES) / 3) * 4, '=');
}

/**
 * The plaintext of `token` if `key` made it, else undefined (wrong key, damaged or malformed
 * token). Tokens never expire here: a stored secret stays readable as long as its key is kept.
 */
export function decryptToken(key: FernetKey, token: string): string | undefined {
  const bytes = Buffer.from(token.replace(/=+$/, ''), 'base64url');
  const cipherLength = bytes.length - HEADER_BYTES - HMAC_BYTES;
  if (bytes[0] !== VERSION || cipherLength < 16 || cipherLength % 16 !== 0) return undefined;
  const signed = bytes.subarray(0, bytes.length - HMAC_BYTES);
  const expected = createHmac('sha256', key.signing).update(signed).digest();
  if (!timingSafeEqual(expected, bytes.subarray(bytes.length - HMAC_BYTES))) return undefined;
  try {
    const decipher = createDecipheriv('aes-128-cbc', key.encryption, bytes.subarray(9, HEADER_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES, signed.length)), decipher.final()]).toString('utf8');
  } catch {
    return undefined; // bad padding: authentic tokens never have it, but never throw for a token
  }
}
