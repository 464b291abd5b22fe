import { describe, expect, it } from 'vitest';
import { loadConfig, need } from '../../src/config/config.js';
import { ConfigError } from '../../src/util/errors.js';
import { parseDuration } from '../../src/util/duration.js';

describe('loadConfig', () => {
  it('has working defaults for everything but the secrets', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: null,
      fernetKeys: [],
      herokuApiToken: null,
      herokuApiUrl: 'https://api.heroku.com',
      addonServices: [],
      instanceId: 'default',
      resyncSchedule: '* * * * *',
      port: 8080,
      bucketPrefix: 'hs3-',
      iamPath: '/heroku-s3-controller/',
      aws: { region: 'us-east-1', endpoints: {}, forcePathStyle: false },
      keyMaxAgeMs: 90 * 86_400_000,
      rotation: { overlapMs: 3_600_000, deactivatedGraceMs: 86_400_000, maxConcurrentApps: 5, maxDeactivationRatio: 0.5 },
    });
    expect(config.dataDir).toMatch(/\.data$/);
    expect(loadConfig({ ROTATION_OVERLAP: '10m', ROTATION_DEACTIVATED_GRACE: '6h', ROTATION_MAX_CONCURRENT_APPS: '2', ROTATION_MAX_DEACTIVATION_RATIO: '0.1' }).rotation).toEqual({
      overlapMs: 600_000,
      deactivatedGraceMs: 6 * 3_600_000,
      maxConcurrentApps: 2,
      maxDeactivationRatio: 0.1,
    });
  });

  it('reads lists, trims blanks and follows the SDK endpoint variables', () => {
    const config = loadConfig({
      FERNET_KEYS: ' k1 , k2,',
      ADDON_SERVICES: 's3-bucket, bucketeer',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:5000',
      AWS_ENDPOINT_URL_IAM: 'http://127.0.0.1:5001',
      HEROKU_API_URL: 'http://127.0.0.1:7000/',
      DATABASE_URL: 'postgres://u:p@db:5432/x',
    });
    expect(config.fernetKeys).toEqual(['k1', 'k2']);
    expect(config.addonServices).toEqual(['s3-bucket', 'bucketeer']);
    expect(config.aws.endpoints).toEqual({
      s3: 'http://127.0.0.1:5000',
      iam: 'http://127.0.0.1:5001',
      sts: 'http://127.0.0.1:5000',
      tagging: 'http://127.0.0.1:5000',
      sqs: 'http://127.0.0.1:5000',
      events: 'http://127.0.0.1:5000',
    });
    expect(config.aws.forcePathStyle).toBe(true);
    expect(config.herokuApiUrl).toBe('http://127.0.0.1:7000');
    expect(config.databaseUrl).toBe('postgres://u:p@db:5432/x');
  });

  it('reads the listeners\' and the console\'s settings', () => {
    expect(loadConfig({})).toMatchObject({ port: 8080, publicPort: 8081, http: { metricsRequireToken: false, publicRequestsPerMinute: 1200, trustProxyHops: 0 }, console: { url: null, herokuOAuth: null, sessionTtlMs: 8 * 3_600_000 } });
    expect(
      loadConfig({ PORT: '0', PUBLIC_PORT: '0', METRICS_REQUIRE_TOKEN: 'true', TRUST_PROXY: '1', CONSOLE_URL: 'http://localhost:8080/', HEROKU_OAUTH_ID: '01234567-89ab-cdef-0123-456789abcdef', HEROKU_OAUTH_SECRET: 's', SESSION_TTL: '1h' }),
    ).toMatchObject({
      port: 0,
      publicPort: 0,
      http: { metricsRequireToken: true, trustProxyHops: 1 },
      console: { url: 'http://localhost:8080', herokuOAuth: { clientId: '01234567-89ab-cdef-0123-456789abcdef', clientSecret: 's', identityUrl: 'https://id.heroku.com' }, sessionTtlMs: 3_600_000 },
    });
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' })).toMatchObject({ databaseUrl: null, port: 8080 });
  });

  it('checks public exposure every 15 minutes and the rest every hour, and an account whose change events arrive every 30 minutes and every day', () => {
    const config = loadConfig({});
    expect([config.deepCheckWindowMs, config.exposureCheckWindowMs, config.deepCheckWindowsWithEvents]).toEqual([3_600_000, 900_000, { fullMs: 86_400_000, exposureMs: 1_800_000 }]);
    // A full window shorter than 15 minutes takes the exposure checks along.
    expect(loadConfig({ DEEP_CHECK_WINDOW: '10m' }).exposureCheckWindowMs).toBe(600_000);
    expect(loadConfig({ DEEP_CHECK_WINDOW: '0' }).exposureCheckWindowMs).toBe(0);
    expect(loadConfig({ DEEP_CHECK_WINDOW_WITH_EVENTS: '20m' }).deepCheckWindowsWithEvents).toEqual({ fullMs: 1_200_000, exposureMs: 1_200_000 });
  });

  const bad: [string, Record<string, string>, RegExp][] = [
    ['DATABASE_URL', { DATABASE_URL: 'mysql://root:hunter2@db/x' }, /^DATABASE_URL: .*postgres:\/\//],
    ['DATABASE_URL', { DATABASE_URL: 'postgres//admin:hunter2@db/x' }, /^DATABASE_URL: .*not a valid URL/],
    ['RESYNC_SCHEDULE', { RESYNC_SCHEDULE: 'every minute' }, /^RESYNC_SCHEDULE: is not a cron expression/],
    ['PORT', { PORT: 'eighty' }, /^PORT: must be a TCP port/],
    ['INSTANCE_ID', { INSTANCE_ID: 'Prod Controller' }, /^INSTANCE_ID: .*keep it stable/],
    ['BUCKET_PREFIX', { BUCKET_PREFIX: 'A_very_long_and_UPPER_prefix' }, /^BUCKET_PREFIX: /],
    ['ADDON_SERVICES', { ADDON_SERVICES: 'S3 Bucket' }, /^ADDON_SERVICES: must be comma-separated/],
    ['HEROKU_API_URL', { HEROKU_API_URL: 'api.heroku.com' }, /^HEROKU_API_URL: must be an http\(s\) URL/],
    ['AWS_ENDPOINT_URL_S3', { AWS_ENDPOINT_URL_S3: 'localhost:9000' }, /^AWS_ENDPOINT_URL_S3: /],
    ['AWS_REGION', { AWS_REGION: 'Frankfurt' }, /^AWS_REGION: must be an AWS region/],
    ['LOG_LEVEL', { LOG_LEVEL: 'loud' }, /^LOG_LEVEL: must be one of trace, debug/],
    ['REQUEST_TIMEOUT', { REQUEST_TIMEOUT: 'soon' }, /^REQUEST_TIMEOUT: must be a duration/],
    ['DEEP_CHECK_WINDOW', { DEEP_CHECK_WINDOW: 'hourly' }, /^DEEP_CHECK_WINDOW: must be a duration such as 1h/],
    ['DEEP_CHECK_EXPOSURE_WINDOW', { DEEP_CHECK_EXPOSURE_WINDOW: 'often' }, /^DEEP_CHECK_EXPOSURE_WINDOW: must be a duration such as 15m/],
    ['DEEP_CHECK_EXPOSURE_WINDOW', { DEEP_CHECK_EXPOSURE_WINDOW: '2h' }, /^DEEP_CHECK_EXPOSURE_WINDOW: is 2h, longer than DEEP_CHECK_WINDOW \(1h\)/],
    ['DEEP_CHECK_WINDOW_WITH_EVENTS', { DEEP_CHECK_WINDOW_WITH_EVENTS: 'daily' }, /^DEEP_CHECK_WINDOW_WITH_EVENTS: must be a duration such as 24h/],
    ['DEEP_CHECK_EXPOSURE_WINDOW_WITH_EVENTS', { DEEP_CHECK_EXPOSURE_WINDOW_WITH_EVENTS: '48h' }, /^DEEP_CHECK_EXPOSURE_WINDOW_WITH_EVENTS: is 48h, longer than DEEP_CHECK_WINDOW_WITH_EVENTS \(24h\)/],
    ['PLAN_PROFILES', { PLAN_PROFILES: '{versioned: true}' }, /^PLAN_PROFILES: is not JSON/],
    ['PLAN_PROFILES', { PLAN_PROFILES: '{"gold": {"versioning": "yes"}}' }, /^PLAN_PROFILES: has a bad profile at gold\.versioning/],
    ['PLAN_PROFILES', { PLAN_PROFILES: '{"gold": {"encrypt": true}}' }, /^PLAN_PROFILES: has a bad profile at gold/],
    ['GC_MODE', { GC_MODE: 'maybe' }, /^GC_MODE: must be one of enabled, dry-run, off/],
    ['GC_MAX_DELETION_RATIO', { GC_MAX_DELETION_RATIO: '1.5' }, /^GC_MAX_DELETION_RATIO: must be a ratio/],
    ['GC_GRACE_ORPHANED', { GC_GRACE_ORPHANED: 'a day' }, /^GC_GRACE_ORPHANED: must be a duration/],
    ['ROTATION_OVERLAP', { ROTATION_OVERLAP: 'an hour' }, /^ROTATION_OVERLAP: must be a duration such as 1h/],
    ['ROTATION_DEACTIVATED_GRACE', { ROTATION_DEACTIVATED_GRACE: 'soon' }, /^ROTATION_DEACTIVATED_GRACE: must be a duration such as 1d/],
    ['ROTATION_MAX_CONCURRENT_APPS', { ROTATION_MAX_CONCURRENT_APPS: '0' }, /^ROTATION_MAX_CONCURRENT_APPS: must be a whole number of apps, at least 1/],
    ['ROTATION_MAX_DEACTIVATION_RATIO', { ROTATION_MAX_DEACTIVATION_RATIO: '2' }, /^ROTATION_MAX_DEACTIVATION_RATIO: must be a ratio between 0 and 1/],
    ['PUBLIC_PORT', { PORT: '9000', PUBLIC_PORT: '9000' }, /^PUBLIC_PORT: is 9000, the same as PORT: .*Set PUBLIC_PORT to another port, e.g. 9001/],
    ['PUBLIC_PORT', { PUBLIC_PORT: '8080' }, /^PUBLIC_PORT: is 8080, the same as PORT/],
    ['METRICS_REQUIRE_TOKEN', { METRICS_REQUIRE_TOKEN: 'yes' }, /^METRICS_REQUIRE_TOKEN: must be true or false/],
    ['PUBLIC_RATE_LIMIT', { PUBLIC_RATE_LIMIT: '0' }, /^PUBLIC_RATE_LIMIT: must be a whole number of requests/],
    ['TRUST_PROXY', { TRUST_PROXY: 'true' }, /^TRUST_PROXY: must be the number of proxy hops/],
    ['HEROKU_OAUTH_SECRET', { HEROKU_OAUTH_ID: '01234567-89ab-cdef-0123-456789abcdef', CONSOLE_URL: 'https://s3.example.com' }, /^HEROKU_OAUTH_SECRET: is not set but HEROKU_OAUTH_ID is/],
    ['HEROKU_OAUTH_ID', { HEROKU_OAUTH_SECRET: 'hunter2' }, /^HEROKU_OAUTH_ID: is not set but HEROKU_OAUTH_SECRET is/],
    ['HEROKU_OAUTH_ID', { HEROKU_OAUTH_ID: 'console', HEROKU_OAUTH_SECRET: 'hunter2' }, /^HEROKU_OAUTH_ID: must be the id \(a UUID\)/],
    ['CONSOLE_URL', { HEROKU_OAUTH_ID: '01234567-89ab-cdef-0123-456789abcdef', HEROKU_OAUTH_SECRET: 'hunter2' }, /^CONSOLE_URL: is not set, and Heroku sign-in needs it/],
    ['CONSOLE_URL', { CONSOLE_URL: 'http://s3-console.internal:8080' }, /^CONSOLE_URL: is http:\/\/s3-console\.internal:8080: browsers keep the console's Secure cookies on https:\/\/ or http:\/\/localhost only/],
    ['SESSION_TTL', { SESSION_TTL: '10s' }, /^SESSION_TTL: must be a duration of at least 1m/],
  ];
  it.each(bad)('names the bad variable %s and says what to do', (variable, env, message) => {
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect((caught as ConfigError).variable).toBe(variable);
    expect((caught as Error).message).toMatch(message);
    expect((caught as Error).message).not.toContain('hunter2');
  });
});

describe('leader election', () => {
  it('defaults to a PostgreSQL advisory lock with a server database, and to none with the embedded one', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db/x' }).leaderElection).toMatchObject({ mode: 'postgres', leaseName: 'heroku-s3-controller-default' });
    expect(loadConfig({}).leaderElection.mode).toBe('none');
    expect(loadConfig({ LEADER_ELECTION: 'kubernetes', POD_NAME: 'pod-1', POD_NAMESPACE: 'ops' }).leaderElection).toMatchObject({
      mode: 'kubernetes',
      identity: 'pod-1',
      leaseNamespace: 'ops',
      timings: { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 },
    });
  });

  it('refuses postgres without DATABASE_URL, and timings out of order', () => {
    expect(() => loadConfig({ LEADER_ELECTION: 'postgres' })).toThrow(/^LEADER_ELECTION: is postgres, which needs DATABASE_URL/);
    expect(() => loadConfig({ LEASE_DURATION: '5s', LEASE_RENEW_DEADLINE: '10s' })).toThrow(/^LEASE_DURATION: /);
  });
});

describe('plan profiles', () => {
  it('has the built-in profiles and takes more from PLAN_PROFILES', () => {
    const config = loadConfig({ PLAN_PROFILES: '{"s3-bucket:archive": {"versioning": true, "retain": true}}' });
    expect(Object.keys(config.profiles).sort()).toEqual(['cors', 'private', 'read-only', 's3-bucket:archive', 'versioned']);
    expect(config.profiles['s3-bucket:archive']).toEqual({ versioning: true, retain: true });
  });
});

describe('need', () => {
  it('names the first missing setting and how to get it', () => {
    const config = loadConfig({ FERNET_KEYS: 'k' });
    expect(() => need(config, 'FERNET_KEYS')).not.toThrow();
    expect(() => need(config, 'FERNET_KEYS', 'HEROKU_API_TOKEN')).toThrow(/^HEROKU_API_TOKEN: is not set\. Create a token with `heroku authorizations:create`/);
    expect(() => need(config, 'ADDON_SERVICES')).toThrow(/^ADDON_SERVICES: is not set/);
  });
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['7d', 604_800_000],
    ['30', 30_000],
    ['250ms', 250],
  ])('%s', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it('refuses what is not a duration', () => {
    expect(parseDuration('soon')).toBeNull();
    expect(parseDuration('-5m')).toBeNull();
  });
});
