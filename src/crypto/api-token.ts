/**
 * The operator API token's format: `hs3c_<id>_<secret>`. The id (12 hex digits) finds the row; the
 * secret (32 random bytes, base64url) proves possession and is kept only as its sha256, compared
 * in constant time. A plain hash suffices: 256 random bits cannot be guessed from it, unlike a
 * password. The prefix lets secret scanners and people recognise a leaked token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'hs3c';
const SHAPE = /^hs3c_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface NewApiToken {
  id: string;
  /** The whole token, to be shown once and never stored. */
  token: string;
  secretSha256: string;
}

export function generateApiToken(): NewApiToken {
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `${PREFIX}_${id}_${secret}`, secretSha256: sha256(secret) };
}

/** The id and secret of a well-formed token; null for anything else. */
export function parseApiToken(token: string): { id: string; secret: string } | null {
  const match = SHAPE.exec(token);
  return match ? { id: match[1]!, secret: match[2]! } : null;
}

export function secretMatches(secret: string, storedSha256: string): boolean {
  const stored = Buffer.from(storedSha256, 'hex');
  const given = Buffer.from(sha256(secret), 'hex');
  return stored.length === given.length && timingSafeEqual(stored, given);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
