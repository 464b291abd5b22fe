import { randomBytes } from 'node:crypto';
import fernet from 'fernet';
import { describe, expect, it } from 'vitest';
import { decryptToken, encryptToken, fernetKey } from '../../src/crypto/fernet-token.js';

/** The vector of the Fernet spec's generate.json / verify.json (github.com/fernet/spec). */
const SPEC = {
  key: 'cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=',
  now: new Date('1985-10-26T01:20:00-07:00'),
  iv: Buffer.from(Array.from({ length: 16 }, (_, i) => i)),
  src: 'hello',
  token: 'gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==',
};
const specKey = fernetKey(Buffer.from(SPEC.key, 'base64url'));

describe('Fernet tokens on node:crypto', () => {
  it('makes the spec vector byte for byte, and reads it', () => {
    expect(encryptToken(specKey, SPEC.src, SPEC.now, SPEC.iv)).toBe(SPEC.token);
    expect(decryptToken(specKey, SPEC.token)).toBe(SPEC.src);
  });

  it('reads tokens of the npm fernet package (what earlier releases stored), and the package reads ours', () => {
    const raw = randomBytes(32).toString('base64url');
    const key = fernetKey(Buffer.from(raw, 'base64url'));
    const secret = new fernet.Secret(raw);
    for (const plain of ['wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY', 'héllo ✓ 🔑', 'x'.repeat(1000), 'a']) {
      const theirs = new fernet.Token({ secret, ttl: 0 }).encode(plain);
      expect(decryptToken(key, theirs)).toBe(plain);
      expect(new fernet.Token({ secret, token: encryptToken(key, plain), ttl: 0 }).decode()).toBe(plain);
    }
  });

  it('answers undefined, never throws, for another key, a flipped bit anywhere, a wrong version or a cut token', () => {
    const other = fernetKey(randomBytes(32));
    expect(decryptToken(other, SPEC.token)).toBeUndefined();
    const bytes = Buffer.from(SPEC.token, 'base64url');
    for (let i = 0; i < bytes.length; i++) {
      const flipped = Buffer.from(bytes);
      flipped[i]! ^= 0x01;
      expect(decryptToken(specKey, flipped.toString('base64url'))).toBeUndefined();
    }
    for (const bad of ['', 'gAAAAA', SPEC.token.slice(0, 60), SPEC.token.slice(0, -8), `x${SPEC.token}`]) {
      expect(decryptToken(specKey, bad)).toBeUndefined();
    }
  });

  it('encrypts the empty string too, with a fresh IV each time', () => {
    const key = fernetKey(randomBytes(32));
    const a = encryptToken(key, '');
    expect(decryptToken(key, a)).toBe('');
    expect(encryptToken(key, '')).not.toBe(a);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => fernetKey(randomBytes(16))).toThrow(RangeError);
  });
});
