import { defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Runs the `*.kube.test.ts` files last: they wait for the stand's kube-apiserver, which comes up in
 * the background (on a machine's first run it is built from Go modules first), so by the time
 * they start the rest of the suite has run beside that build instead of after it.
 */
class KubeLastSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const kube = (f: TestSpecification) => f.moduleId.endsWith('.kube.test.ts');
    return [...sorted.filter((f) => !kube(f)), ...sorted.filter(kube)];
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts the shared test stand once: moto server(s), a throw-away PostgreSQL cluster, and in
    // the background etcd and kube-apiserver.
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: two workers. Test files isolate themselves (random AWS account ids, fresh
    // databases, their own Heroku fake), so they may run side by side on the shared stand.
    maxWorkers: 2,
    sequence: { sequencer: KubeLastSequencer },
    reporters: ['default'],
  },
});
