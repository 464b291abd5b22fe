/**
 * Types for `fernet` 0.4 (CommonJS, no bundled types): only the parts the controller uses.
 * Note the library sets `String.prototype.lpad` on load.
 */
declare module 'fernet' {
  namespace fernet {
    /** A 32-byte Fernet key given in url-safe base64 (padding optional). Throws if not 32 bytes. */
    class Secret {
      constructor(secret64: string);
      readonly signingKeyHex: string;
      readonly encryptionKeyHex: string;
    }
    interface TokenOptions {
      secret: Secret;
      /** Seconds a token stays valid when decoding; 0 = forever. Defaults to 60! */
      ttl?: number;
      token?: string;
      message?: string;
      time?: string;
      iv?: number[];
    }
    class Token {
      constructor(opts: TokenOptions);
      /** Encrypts `message` and returns the token (url-safe base64, with padding). */
      encode(message?: string): string;
      /** Verifies and decrypts the token given here or in the constructor. Throws on any failure. */
      decode(token?: string): string;
    }
  }
  export = fernet;
}
