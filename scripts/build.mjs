/**
 * Builds dist/: the JavaScript and type declarations of src/ and witness/
 * (tsc, tsconfig.build.json), which the `actlog` package exports and the CLI
 * runs, and the browser bundles of the SDK and of the verifier (esbuild,
 * platform browser): dist/browser/actlog.js and dist/browser/verify.js;
 * and the web console, dist/actlog-verify.html (scripts/build-web.ts, which
 * `npm run build:web` runs alone). `npm run build` runs it, and so does
 * `prepare` (npm ci, npm pack).
 *
 * Plain JavaScript, so it runs before anything is built. Usage:
 *   node scripts/build.mjs            build
 *   node scripts/build.mjs --if-stale build only when a source is newer than the last build
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const DIST = join(ROOT, 'dist')
/** Written last: its time is when the build finished, and its absence means none did. */
const STAMP = join(DIST, '.built')
const INPUTS = ['src', 'witness', 'tsconfig.json', 'tsconfig.build.json', 'package.json', 'scripts/build.mjs', 'scripts/build-web.ts']

/** Returns the newest modification time (ms) of the files under `path`. */
function newest(path) {
  const st = statSync(path, { throwIfNoEntry: false })
  if (st === undefined) return 0
  if (!st.isDirectory()) return st.mtimeMs
  let t = 0
  for (const name of readdirSync(path)) t = Math.max(t, newest(join(path, name)))
  return t
}

/** Returns true when dist/ is missing or older than a source it is built from. */
export function isStale() {
  const built = statSync(STAMP, { throwIfNoEntry: false })
  if (built === undefined) return true
  return INPUTS.some((p) => newest(join(ROOT, p)) > built.mtimeMs)
}

/** Builds dist/ from scratch; throws with tsc's or esbuild's output when either fails. */
export async function build() {
  // From scratch: a source that was removed must not live on in dist/.
  rmSync(DIST, { recursive: true, force: true })
  const require = createRequire(import.meta.url)
  const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, encoding: 'utf8' })
  if (tsc.status !== 0) throw new Error(`tsc failed:\n${tsc.stdout}${tsc.stderr}`)
  const esbuild = await import('esbuild')
  await esbuild.build({
    entryPoints: { actlog: join(ROOT, 'src/client/index.ts'), verify: join(ROOT, 'src/verify/index.ts') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: join(DIST, 'browser'),
    logLevel: 'warning',
  })
  const web = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/build-web.ts')], { cwd: ROOT, encoding: 'utf8' })
  if (web.status !== 0) throw new Error(`the web console's build failed:\n${web.stdout}${web.stderr}`)
  writeFileSync(STAMP, new Date().toISOString() + '\n')
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]
if (isMain) {
  if (process.argv.includes('--if-stale') && existsSync(STAMP) && !isStale()) process.exit(0)
  try {
    await build()
  } catch (e) {
    console.error(e instanceof Error ? e.message : e)
    process.exit(1)
  }
}
