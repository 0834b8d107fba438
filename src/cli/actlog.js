#!/usr/bin/env node
// The actlog command. Node 20 cannot run TypeScript by itself, so register
// tsx's loader before importing the sources: there is no build step.
// Storage reads, synced writes and WebCrypto all run on libuv's thread pool;
// with the default 4 threads a slow fsync stalls signature checks. Set before
// anything uses the pool, which is created on first use.
process.env.UV_THREADPOOL_SIZE ??= '16'

const { register } = await import('tsx/esm/api')
register()
await import('./main.ts')
