// Two projects: `unit` (*.spec.ts beside pure code) and `integration` (test/**/*.int-spec.ts,
// against real Kafka and Postgres, started by test/harness/global-setup.ts when not running).
const moduleNameMapper = {
  '^@tributary/([a-z-]+)$': '<rootDir>/libs/$1/src',
  '^@tributary/([a-z-]+)/(.*)$': '<rootDir>/libs/$1/src/$2',
};
const transform = { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] };
module.exports = {
  testTimeout: 120000,
  projects: [
    { displayName: 'unit', testMatch: ['<rootDir>/{apps,libs}/**/*.spec.ts'], transform, moduleNameMapper, testEnvironment: 'node' },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/**/*.int-spec.ts'],
      transform, moduleNameMapper, testEnvironment: 'node',
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
    },
  ],
};
