/**
 * Secrets at rest: Fernet encryption with key rotation (safety invariant 8).
 *
 * Keys come from FERNET_KEYS (comma-separated). The FIRST key encrypts; EVERY key decrypts, so a
 * new key can be prepended, stored secrets re-encrypted, and the old key removed afterwards.
 * Nothing here ever puts a key, a token or a plaintext into an error message.
 */
import { hkdfSync, randomBytes } from 'node:crypto';
import { decryptToken, encryptToken, fernetKey, type FernetKey } from './fernet-token.js';

/** How an operator makes a key; quoted in every key error. */
export const KEY_RECIPE =
  `node -e "console.log(require('crypto').randomBytes(32).toString('base64url'))"`;

export const DECRYPT_ERROR_MESSAGE =
  'cannot decrypt a stored secret with any key in FERNET_KEYS; was a key removed?';

/** 32 bytes in base64: 43 characters, optionally one `=` of padding. Url-safe or standard alphabet. */
const KEY_SHAPE = /^[A-Za-z0-9_+/-]{43}=?$/;
/** A Fernet token: url-safe base64 of version(1) time(8) iv(16) ciphertext(16n, n ≥ 1) hmac(32). */
const TOKEN_SHAPE = /^[A-Za-z0-9_-]+={0,2}$/;
const TOKEN_FIXED_BYTES = 1 + 8 + 16 + 32;
/** Decrypted tokens remembered by a box (see SecretBox#opened): a pass's worth at 100,000 add-ons. */
const MAX_OPENED = 100_000;

/** Thrown for a missing or malformed key; the message names the key by position only. */
export class FernetKeyError extends Error {
  override readonly name = 'FernetKeyError';
}

/** Thrown when a stored token cannot be decrypted; never carries the token or a key. */
export class SecretDecryptError extends Error {
  override readonly name = 'SecretDecryptError';
  /** `context` names what was being decrypted (e.g. "links.secret_access_key_enc of team X"). */
  constructor(context?: string) {
    super(context ? `${DECRYPT_ERROR_MESSAGE} (${context})` : DECRYPT_ERROR_MESSAGE);
  }
}

function keyError(position: number, count: number, problem: string): FernetKeyError {
  const which = count > 1 ? `key #${position} of ${count} in FERNET_KEYS` : 'the key in FERNET_KEYS';
  return new FernetKeyError(
    `${which} ${problem}; each key must be 32 random bytes in url-safe base64 ` +
      `(43 characters, or 44 ending in "="); make one with: ${KEY_RECIPE}`,
  );
}

/**
 * Checks one key and returns it in canonical form (url-safe alphabet, no padding).
 * Accepts the standard base64 alphabet too (`+` and `/`, as `openssl rand -base64 32` prints).
 */
function normaliseKey(raw: string, position: number, count: number): string {
  const key = raw.trim();
  if (key === '') throw keyError(position, count, 'is empty');
  if (!KEY_SHAPE.test(key)) throw keyError(position, count, 'is not 32 bytes of base64');
  const canonical = key.replace(/\+/g, '-').replace(/\//g, '_').replace(/=$/, '');
  const bytes = Buffer.from(canonical, 'base64url');
  // Buffer decoding is lenient; re-encoding catches stray bits in the last character.
  if (bytes.length !== 32 || bytes.toString('base64url') !== canonical) {
    throw keyError(position, count, 'is not 32 bytes of base64');
  }
  return canonical;
}

/** True if `token` has the shape of a Fernet token (does not verify it). */
function looksLikeToken(token: string): boolean {
  if (!TOKEN_SHAPE.test(token)) return false;
  const unpadded = token.replace(/=+$/, '');
  const bytes = Buffer.from(unpadded, 'base64url');
  // Buffer decoding ignores stray trailing characters; a canonical encoding has none.
  if (bytes.toString('base64url') !== unpadded) return false;
  const cipherLength = bytes.length - TOKEN_FIXED_BYTES;
  return bytes[0] === 0x80 && cipherLength >= 16 && cipherLength % 16 === 0;
}

export class SecretBox {
  /** Kept private (`#`) so the secrets never show up in `util.inspect` or `JSON.stringify`. */
  readonly #secrets: readonly FernetKey[];
  /** A fingerprint per key, for deduplication only. */
  readonly #keyIds: readonly string[];
  /**
   * Token -> what it decrypted to, least recently used first. Every pass reads every stored key;
   * a token never changes what it decrypts to under the same keys, so each is decrypted (and its
   * HMAC checked) once. Plaintexts sit in memory anyway while a pass holds its records; this holds
   * at most MAX_OPENED of them.
   */
  readonly #opened = new Map<string, { value: string; keyIndex: number }>();

  private constructor(secrets: FernetKey[], keyIds: string[]) {
    this.#secrets = secrets;
    this.#keyIds = keyIds;
  }

  /**
   * Builds a box from keys in FERNET_KEYS order: the first encrypts, all decrypt.
   * Throws {@link FernetKeyError} naming a bad key by its position, never by its value.
   */
  static fromKeys(keys: readonly string[]): SecretBox {
    if (keys.length === 0 || keys.every((k) => k.trim() === '')) {
      throw new FernetKeyError(
        `FERNET_KEYS is empty; set it to one or more comma-separated keys (the first encrypts, ` +
          `all decrypt); make one with: ${KEY_RECIPE}`,
      );
    }
    const secrets: FernetKey[] = [];
    const ids: string[] = [];
    keys.forEach((raw, index) => {
      const canonical = normaliseKey(raw, index + 1, keys.length);
      if (ids.includes(canonical)) return; // a repeated key adds nothing
      ids.push(canonical);
      secrets.push(fernetKey(Buffer.from(canonical, 'base64url')));
    });
    return new SecretBox(secrets, ids);
  }

  /**
   * Builds a box from the FERNET_KEYS value itself: comma-separated, blanks around keys ignored,
   * empty entries (e.g. a trailing comma) ignored.
   */
  static fromKeyList(value: string): SecretBox {
    return SecretBox.fromKeys(value.split(',').filter((k) => k.trim() !== ''));
  }

  /** A fresh random key in url-safe base64 (no padding), ready for FERNET_KEYS. */
  static generateKey(): string {
    return randomBytes(32).toString('base64url');
  }

  /**
   * Keys for another purpose (e.g. signing the console's cookies), derived from each Fernet key
   * with HKDF, in the same order: rotating FERNET_KEYS rotates them too, and no second secret
   * needs to be configured. A derived key reveals nothing of the Fernet key.
   */
  derivedKeys(purpose: string): Buffer[] {
    return this.#secrets.map((s) => Buffer.from(hkdfSync('sha256', Buffer.concat([s.signing, s.encryption]), Buffer.alloc(0), `heroku-s3-controller ${purpose}`, 32)));
  }

  /** Number of distinct keys. */
  get keyCount(): number {
    return this.#keyIds.length;
  }

  /** Encrypts with the first key. */
  encrypt(plain: string): string {
    if (typeof plain !== 'string') throw new TypeError('SecretBox.encrypt expects a string');
    const secret = this.#secrets[0];
    if (!secret) throw new Error('SecretBox has no key'); // unreachable: fromKeys demands one
    return encryptToken(secret, plain);
  }

  /**
   * Decrypts with whichever key fits; throws {@link SecretDecryptError} if none does. `context`
   * (never secret) is added to that error's message to say which stored value failed.
   */
  decrypt(token: string, context?: string): string {
    const plain = this.#tryDecrypt(token);
    if (plain === undefined) throw new SecretDecryptError(context);
    return plain.value;
  }

  /** True if `token` is not encrypted with the first key (so rotation should re-encrypt it). */
  needsReencrypt(token: string): boolean {
    const plain = this.#tryDecrypt(token);
    return plain === undefined || plain.keyIndex !== 0;
  }

  /**
   * Returns `token` re-encrypted with the first key, or the same token if it already is.
   * Throws {@link SecretDecryptError} if no key decrypts it.
   */
  reencrypt(token: string, context?: string): string {
    const plain = this.#tryDecrypt(token);
    if (plain === undefined) throw new SecretDecryptError(context);
    return plain.keyIndex === 0 ? token : this.encrypt(plain.value);
  }

  #tryDecrypt(token: string): { value: string; keyIndex: number } | undefined {
    if (typeof token !== 'string') return undefined;
    const known = this.#opened.get(token);
    if (known !== undefined) {
      this.#opened.delete(token);
      this.#opened.set(token, known);
      return known;
    }
    if (!looksLikeToken(token)) return undefined;
    for (const [keyIndex, secret] of this.#secrets.entries()) {
      const value = decryptToken(secret, token);
      if (value === undefined) continue; // wrong key (HMAC mismatch) or damaged token: try the next key
      const opened = { value, keyIndex };
      if (this.#opened.size >= MAX_OPENED) this.#opened.delete(this.#opened.keys().next().value!);
      this.#opened.set(token, opened);
      return opened;
    }
    return undefined;
  }

  toString(): string {
    return `SecretBox(${this.keyCount} key${this.keyCount === 1 ? '' : 's'})`;
  }

  toJSON(): string {
    return this.toString();
  }
}
