#!/usr/bin/env node
// The `mlsecrets` executable (package bin): runs the CLI on this process and exits with its code.
import { processIo } from './cli-io.ts';
import { runCli } from './program.ts';

const code = await runCli(process.argv.slice(2), processIo());
// Wait for buffered output before exiting; process.exit would not (a pipe can be asynchronous).
await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
// Exit explicitly: the HTTP client's keep-alive sockets would otherwise hold the process open.
process.exit(code);
