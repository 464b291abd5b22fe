import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  DECRYPT_ERROR_MESSAGE,
  FernetKeyError,
  KEY_RECIPE,
  SecretBox,
  SecretDecryptError,
} from '../../src/crypto/secret-box.js';

const key = (): string => randomBytes(32).toString('base64url');
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('SecretBox', () => {
  it('round-trips text, including empty and non-ASCII strings', () => {
    const box = SecretBox.fromKeys([key()]);
    for (const plain of [SECRET, '', 'héllo ✓ 🔑', 'x'.repeat(10_000)]) {
      const token = box.encrypt(plain);
      expect(token).not.toContain(plain || '\u0000');
      expect(token.startsWith('gAAAAA')).toBe(true);
      expect(box.decrypt(token)).toBe(plain);
    }
  });

  it('uses a fresh IV for every encryption', () => {
    const box = SecretBox.fromKeys([key()]);
    expect(box.encrypt(SECRET)).not.toBe(box.encrypt(SECRET));
  });

  it('decrypts a token made by Python cryptography.fernet (interoperability)', () => {
    const box = SecretBox.fromKeys(['LT7rgsb3_BjgzyQDkboWBQfCTmh5dylPiDvnGc4F1_4=']);
    const token =
      'gAAAAABrA10vyXAX4z_x_mUG6v9MMW1-l6Xqgsfg5UzGdLSb_1iU8mKRP_2o5mx8rQx0yNbW1zfHZel0S-2yfhuWlwpFp' +
      '-MJgLHhTtweOPNWPj-bJLhRIK5REgopQ4mOVHAaWw9eo7Qf';
    expect(box.decrypt(token)).toBe('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY ✓');
  });

  it('rotates: the first key encrypts, every key decrypts', () => {
    const oldKey = key();
    const newKey = key();
    const oldBox = SecretBox.fromKeys([oldKey]);
    const oldToken = oldBox.encrypt(SECRET);

    const rotated = SecretBox.fromKeys([newKey, oldKey]);
    expect(rotated.decrypt(oldToken)).toBe(SECRET);
    expect(rotated.needsReencrypt(oldToken)).toBe(true);

    const newToken = rotated.reencrypt(oldToken);
    expect(newToken).not.toBe(oldToken);
    expect(rotated.needsReencrypt(newToken)).toBe(false);
    expect(rotated.reencrypt(newToken)).toBe(newToken);
    // Encrypted with the new key only: the old key alone cannot read it; the new key alone can.
    expect(() => oldBox.decrypt(newToken)).toThrow(SecretDecryptError);
    expect(SecretBox.fromKeys([newKey]).decrypt(newToken)).toBe(SECRET);
    expect(SecretBox.fromKeys([newKey]).decrypt(rotated.encrypt('fresh'))).toBe('fresh');
  });

  it('fails to decrypt with a wrong key without revealing token, key or plaintext', () => {
    const rightKey = key();
    const wrongKey = key();
    const token = SecretBox.fromKeys([rightKey]).encrypt(SECRET);
    const err = thrown(() => SecretBox.fromKeys([wrongKey]).decrypt(token, 'links of team t1'));
    expect(err).toBeInstanceOf(SecretDecryptError);
    expect(err.message).toBe(`${DECRYPT_ERROR_MESSAGE} (links of team t1)`);
    for (const secret of [token, rightKey, wrongKey, SECRET]) {
      expect(err.message).not.toContain(secret);
      expect(inspect(err)).not.toContain(secret);
    }
  });

  it('refuses damaged tokens', () => {
    const box = SecretBox.fromKeys([key()]);
    const token = box.encrypt(SECRET);
    const flipped = token.slice(0, 30) + (token[30] === 'A' ? 'B' : 'A') + token.slice(31);
    for (const bad of ['', 'not a token', token.slice(0, 60), `${token}x`, flipped, SECRET]) {
      expect(() => box.decrypt(bad)).toThrow(DECRYPT_ERROR_MESSAGE);
      expect(box.needsReencrypt(bad)).toBe(true);
    }
  });

  it('accepts keys with or without padding and in the standard base64 alphabet', () => {
    const bytes = randomBytes(32);
    const urlsafe = bytes.toString('base64url');
    const box = SecretBox.fromKeys([urlsafe]);
    const token = box.encrypt(SECRET);
    for (const variant of [`${urlsafe}=`, bytes.toString('base64'), `  ${urlsafe}  `]) {
      const other = SecretBox.fromKeys([variant]);
      expect(other.decrypt(token)).toBe(SECRET);
      expect(other.needsReencrypt(token)).toBe(false);
    }
  });

  it('accepts the FERNET_KEYS variable as one comma-separated string', () => {
    const a = key();
    const b = key();
    const box = SecretBox.fromKeyList(` ${a} , ${b},`);
    expect(box.keyCount).toBe(2);
    expect(SecretBox.fromKeys([a]).decrypt(box.encrypt(SECRET))).toBe(SECRET);
    expect(SecretBox.fromKeys([a, a, b]).keyCount).toBe(2);
  });

  it('names a malformed key by position, never by value, and says how to make one', () => {
    const good = key();
    const cases: Array<[string, string]> = [
      ['tooshort', 'is not 32 bytes of base64'],
      [randomBytes(16).toString('base64url'), 'is not 32 bytes of base64'],
      [randomBytes(33).toString('base64url'), 'is not 32 bytes of base64'],
      [`${good.slice(0, 42)}!`, 'is not 32 bytes of base64'],
      // A 43rd character with its two unused low bits set ("B" = 000001): Buffer drops them.
      [`${good.slice(0, 42)}B`, 'is not 32 bytes of base64'],
      ['   ', 'is empty'],
    ];
    for (const [bad, problem] of cases) {
      const err = thrown(() => SecretBox.fromKeys([good, bad]));
      expect(err).toBeInstanceOf(FernetKeyError);
      expect(err.message).toContain('key #2 of 2 in FERNET_KEYS');
      expect(err.message).toContain(problem);
      expect(err.message).toContain(KEY_RECIPE);
      if (bad.trim() !== '') expect(err.message).not.toContain(bad.trim());
      expect(err.message).not.toContain(good);
    }
    const single = thrown(() => SecretBox.fromKeys(['nope']));
    expect(single.message).toMatch(/^the key in FERNET_KEYS is not 32 bytes of base64/);
  });

  it('refuses an empty key list', () => {
    expect(() => SecretBox.fromKeys([])).toThrow(/FERNET_KEYS is empty/);
    expect(() => SecretBox.fromKeyList(' , ')).toThrow(/FERNET_KEYS is empty/);
  });

  it('generates valid, distinct keys', () => {
    const a = SecretBox.generateKey();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(SecretBox.generateKey()).not.toBe(a);
    expect(SecretBox.fromKeys([a]).keyCount).toBe(1);
  });

  it('does not show its keys when inspected or serialised', () => {
    const k = key();
    const box = SecretBox.fromKeys([k]);
    const hexOf = Buffer.from(k, 'base64url').toString('hex');
    for (const shown of [inspect(box, { showHidden: true, depth: 10 }), JSON.stringify({ box }), String(box)]) {
      expect(shown).not.toContain(k);
      expect(shown).not.toContain(hexOf.slice(0, 32));
      expect(shown).not.toContain(hexOf.slice(32));
    }
  });
});
