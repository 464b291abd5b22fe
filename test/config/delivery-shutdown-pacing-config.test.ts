/** ADDON_CONFIG_VARS_PREFIX, SHUTDOWN_TIMEOUT and AWS_*_MUTATIONS_PER_SECOND (src/config/config.ts). */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';

describe('credential delivery, shutdown and AWS pacing configuration', () => {
  it('defaults: the prefix from the first add-on service, 20 s to shut down, 5 IAM and 20 S3 mutations a second', () => {
    const config = loadConfig({ ADDON_SERVICES: 's3-bucket,bucketeer' });
    expect(config.addonConfigVarsPrefix).toBe('S3_BUCKET');
    expect(config.shutdownTimeoutMs).toBe(20_000);
    expect(config.aws.mutationRates).toEqual({ iamPerSecond: 5, s3PerSecond: 20 });
  });

  it('reads the values given', () => {
    const config = loadConfig({ ADDON_CONFIG_VARS_PREFIX: 'BUCKETEER', SHUTDOWN_TIMEOUT: '5s', AWS_IAM_MUTATIONS_PER_SECOND: '2.5', AWS_S3_MUTATIONS_PER_SECOND: '50' });
    expect(config.addonConfigVarsPrefix).toBe('BUCKETEER');
    expect(config.shutdownTimeoutMs).toBe(5_000);
    expect(config.aws.mutationRates).toEqual({ iamPerSecond: 2.5, s3PerSecond: 50 });
  });

  it('refuses bad values, naming the variable', () => {
    expect(() => loadConfig({ ADDON_CONFIG_VARS_PREFIX: 's3-bucket' })).toThrow(/^ADDON_CONFIG_VARS_PREFIX.*capitals/);
    expect(() => loadConfig({ SHUTDOWN_TIMEOUT: 'soon' })).toThrow(/^SHUTDOWN_TIMEOUT/);
    expect(() => loadConfig({ AWS_IAM_MUTATIONS_PER_SECOND: '0' })).toThrow(/^AWS_IAM_MUTATIONS_PER_SECOND/);
    expect(() => loadConfig({ AWS_S3_MUTATIONS_PER_SECOND: 'fast' })).toThrow(/^AWS_S3_MUTATIONS_PER_SECOND/);
  });
});
