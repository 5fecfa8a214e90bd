#!/usr/bin/env node
import './tracing';
import 'reflect-metadata';
import { CommandFactory } from 'nest-commander';
import { CliModule } from './cli.module';

// `tributary <command>`: tenants, keys, dead letters, projections, rebuild, backfill, reset.
CommandFactory.run(CliModule, {
  logger: ['error'],
  errorHandler: (e: Error & { code?: string; exitCode?: number }) => {
    // Commander reports --help and --version through this handler too.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') process.exit(0);
    // Commander has already printed its own message.
    process.exit(2);
  },
  // A command that throws (database down, a bug) must not exit 0.
  serviceErrorHandler: (e: Error) => {
    process.stderr.write(`error: ${e.message}\n`);
    process.exit(1);
  },
}).catch((e) => {
  process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
