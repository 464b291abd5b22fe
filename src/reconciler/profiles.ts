/**
 * Settings profiles: what a Heroku plan means for its bucket. Profiles are configuration
 * (PLAN_PROFILES), looked up by the full plan name (`s3-bucket:versioned`) or its plan part
 * (`versioned`); a plan with no profile gets the private default.
 */
import type { ResourceKindName } from '../store/types.js';

export interface SettingsProfile {
  /** What the plan stands for: a bucket with its user and key (default), or credentials alone. */
  kind: ResourceKindName;
  /** `read-only`: the add-on's user may read objects but not write or delete them. */
  access: 'read-write' | 'read-only';
  versioning: boolean;
  /** Origins allowed by the bucket's CORS rule (browser uploads with presigned URLs); none = no CORS. */
  corsOrigins: string[];
  /** Keep the bucket and its data when the add-on goes away (only the user and keys go). */
  retain: boolean;
  /**
   * `credentials`: the user's inline policy, a JSON document with `${...}` variables filled in
   * per add-on (see kinds/credentials). Null for a bucket, whose policy grants its bucket.
   */
  policy: string | null;
}

export type ProfileTable = Record<string, Partial<SettingsProfile>>;

export const PRIVATE_PROFILE: SettingsProfile = { kind: 'bucket', access: 'read-write', versioning: false, corsOrigins: [], retain: false, policy: null };

/** The profiles a plan name can pick without any configuration. */
export const DEFAULT_PROFILES: ProfileTable = {
  private: {},
  versioned: { versioning: true },
  'read-only': { access: 'read-only' },
  cors: { corsOrigins: ['*'] },
};

export function profileFor(table: ProfileTable, plan: string): SettingsProfile {
  const short = plan.includes(':') ? plan.slice(plan.indexOf(':') + 1) : plan;
  return { ...PRIVATE_PROFILE, ...(table[plan] ?? table[short] ?? {}) };
}

/** The one CORS rule a profile asks for, in the canonical form plan() compares. */
export interface CorsRuleSpec {
  allowedOrigins: string[];
  allowedMethods: string[];
  allowedHeaders: string[];
  exposeHeaders: string[];
  maxAgeSeconds: number;
}

export function desiredCors(profile: SettingsProfile): CorsRuleSpec[] | null {
  if (profile.corsOrigins.length === 0) return null;
  return [
    {
      allowedOrigins: [...profile.corsOrigins].sort(),
      allowedMethods: ['GET', 'HEAD', 'POST', 'PUT'],
      allowedHeaders: ['*'],
      exposeHeaders: ['ETag'],
      maxAgeSeconds: 3000,
    },
  ];
}

export function canonicalCors(rules: CorsRuleSpec[] | null): string {
  if (!rules || rules.length === 0) return 'none';
  return JSON.stringify(
    rules.map((r) => ({
      allowedOrigins: [...r.allowedOrigins].sort(),
      allowedMethods: [...r.allowedMethods].sort(),
      allowedHeaders: [...r.allowedHeaders].sort(),
      exposeHeaders: [...r.exposeHeaders].sort(),
      maxAgeSeconds: r.maxAgeSeconds,
    })),
  );
}
