#!/usr/bin/env node
// Test launcher: the `actlog` command exactly as src/cli/actlog.js runs it,
// with storage faults planned by the ACTLOG_TEST_FAULTS environment variable
// (see faulty-storage.ts). Only tests spawn it; nothing in src/ or witness/
// reads that variable.

const { register } = await import('tsx/esm/api')
register()
await import('./faulty-storage.ts')
await import('../../src/cli/main.ts')
