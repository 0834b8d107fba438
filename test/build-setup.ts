/**
 * Vitest global setup: builds dist/ once before the tests when a source is
 * newer than the last build, so tests of the built package and CLI never
 * run stale code, however vitest was started.
 */
export default async function setup(): Promise<void> {
  // @ts-expect-error: a plain JavaScript module without declarations
  const { build, isStale } = (await import('../scripts/build.mjs')) as { build: () => Promise<void>; isStale: () => boolean }
  if (isStale()) await build()
}
