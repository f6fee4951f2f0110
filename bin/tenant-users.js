#!/usr/bin/env node
// Launcher of the tenant-users CLI: it runs the TypeScript sources through tsx, so the CLI works
// from a fresh clone after `npm ci`, without a build step.
import { fileURLToPath, URL } from 'node:url';
import { register } from 'tsx/esm/api';

// tsx looks for tsconfig.json in the current directory by default. The CLI needs this project's
// file wherever it is run from, because the entities use legacy decorators
// (`experimentalDecorators`).
const tsconfig = fileURLToPath(new URL('../tsconfig.json', import.meta.url));
register({ tsconfig });

const { main } = await import('../src/cli/index.ts');
await main();
