import { describe, expect, it, vi } from 'vitest';
import * as fernetToken from '../../src/crypto/fernet-token.js';
import { SecretBox, SecretDecryptError } from '../../src/crypto/secret-box.js';

vi.mock('../../src/crypto/fernet-token.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/crypto/fernet-token.js')>();
  return { ...actual, decryptToken: vi.fn(actual.decryptToken) };
});

describe('SecretBox decrypts each token once', () => {
  it('answers the same token again from memory; a damaged copy or another box still decrypts for itself', () => {
    const decrypt = vi.mocked(fernetToken.decryptToken);
    const box = SecretBox.fromKeys([SecretBox.generateKey()]);
    const token = box.encrypt('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    decrypt.mockClear();
    for (let i = 0; i < 5; i++) expect(box.decrypt(token)).toBe('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY');
    expect(box.needsReencrypt(token)).toBe(false);
    expect(decrypt).toHaveBeenCalledTimes(1);
    const damaged = token.slice(0, 20) + (token[20] === 'A' ? 'B' : 'A') + token.slice(21);
    expect(() => box.decrypt(damaged)).toThrow(SecretDecryptError);
    expect(SecretBox.fromKeys([SecretBox.generateKey()]).needsReencrypt(token)).toBe(true);
  });

  it('a token decrypted under an old key still reports that it needs re-encryption', () => {
    const oldKey = SecretBox.generateKey();
    const token = SecretBox.fromKeys([oldKey]).encrypt('s');
    const rotated = SecretBox.fromKeys([SecretBox.generateKey(), oldKey]);
    expect(rotated.decrypt(token)).toBe('s');
    expect(rotated.needsReencrypt(token)).toBe(true);
    const fresh = rotated.reencrypt(token);
    expect(fresh).not.toBe(token);
    expect(rotated.needsReencrypt(fresh)).toBe(false);
  });
});
