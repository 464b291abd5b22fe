/**
 * The linked accounts' own access keys (links made with `--access-key-id`) age like any key: the
 * ones older than KEY_MAX_AGE are named, with what to do, so an operator replaces them before a
 * benchmark (AWS Security Hub IAM.3) fails the account.
 */
import type { Link } from '../store/types.js';

export interface OldLinkKey {
  teamName: string;
  accessKeyId: string;
  ageDays: number;
  message: string;
}

export function oldLinkKeys(links: readonly Link[], now: Date, maxAgeMs: number): OldLinkKey[] {
  return links.flatMap((link) => {
    if (link.auth.kind !== 'keys' || !link.accessKeyCreatedAt) return [];
    const age = now.getTime() - link.accessKeyCreatedAt.getTime();
    if (age <= maxAgeMs) return [];
    const ageDays = Math.floor(age / 86_400_000);
    const accessKeyId = link.auth.accessKeyId;
    return [{
      teamName: link.teamName,
      accessKeyId,
      ageDays,
      message: `the access key ${accessKeyId} that links team ${link.teamName} is ${ageDays} days old, past KEY_MAX_AGE (${Math.floor(maxAgeMs / 86_400_000)} days): make a new key for that IAM user and rotate to it (\`heroku-s3-controller link --team ${link.teamName} --access-key-id … --secret-access-key - --rotate\`), then delete the old one`,
    }];
  });
}
