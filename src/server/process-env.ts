/**
 * The environment `actlog start` runs its servers in, and the benchmark too,
 * so that its figures are those of a log run as the README says. Each
 * setting was measured on a 1M-entry log (docs/performance.md, "Memory").
 */

/**
 * The environment of a server: glibc's malloc settings, unless already set.
 *
 * MALLOC_ARENA_MAX: glibc otherwise gives each thread that allocates its own
 * arena (up to 8 per core) and keeps freed memory in each; the server's
 * threads (libuv's pool, the verification workers) then hold ~50 MB more
 * under load.
 *
 * MALLOC_MMAP_THRESHOLD_: glibc raises its mmap threshold to the size of each
 * large block freed, so the buffers of bundles, batches and replies (tens to
 * hundreds of KB) come to live in the main heap, which it cannot shrink past
 * the block in use nearest its top. A fixed 32 KB keeps them in mappings of
 * their own, returned when freed: after a read of every bundle of a 1M-entry
 * log the main heap held 78 MB instead of 157 MB, at the same CPU per
 * statement under flat-out writes.
 */
export function serverEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, MALLOC_ARENA_MAX: env.MALLOC_ARENA_MAX ?? '2', MALLOC_MMAP_THRESHOLD_: env.MALLOC_MMAP_THRESHOLD_ ?? '32768' }
}
