#!/usr/bin/env node
// The actlog command. Node 20 cannot run TypeScript by itself, so register
// tsx's loader before importing the sources: there is no build step. (libuv's
// pool keeps its default 4 threads: it exists before this line runs, and the
// benchmark found no difference between 2, 4 and 16 threads on 2 cores.)

const { register } = await import('tsx/esm/api')
register()
await import('./main.ts')
