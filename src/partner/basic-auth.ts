/**
 * HTTP Basic authentication of Heroku's calls to the add-on: the user is the add-on manifest's
 * `id`, the password its `api.password`. Several passwords may be accepted at once so the manifest
 * password can be rotated without refusing Heroku in between.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * True when `header` is `Basic base64(id:password)` for `manifestId` and any of `passwords`.
 * Compared in constant time (over SHA-256 digests, so lengths do not show either), without an early
 * exit across passwords; empty passwords never match.
 */
export function checkBasicAuth(header: string | undefined, manifestId: string, passwords: readonly string[]): boolean {
  if (typeof header !== 'string') return false;
  const match = /^\s*basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match) return false;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return false;
  const user = digest(decoded.slice(0, colon));
  const password = digest(decoded.slice(colon + 1));
  let userOk = timingSafeEqual(user, digest(manifestId));
  let passwordOk = false;
  for (const candidate of passwords) {
    if (candidate.length === 0) continue;
    if (timingSafeEqual(password, digest(candidate))) passwordOk = true;
  }
  if (manifestId.length === 0) userOk = false;
  return userOk && passwordOk;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
