/**
 * Enforces the import boundaries of STYLE.md ("Boundaries"):
 *
 *   core -> @noble/*, cbor-x      verify -> core       storage -> core, level
 *   client -> core, verify         mcp -> client, core, @modelcontextprotocol/sdk, ajv
 *   audit -> verify, core          server, witness -> core, storage, hono
 *   web -> verify, core (browser)
 *   cli -> client, mcp, verify, audit, core, server/main.ts, witness/main.ts, CLI libraries
 *
 * plus: one owner per dependency (cbor-x only in core/codec.ts, @noble/ed25519
 * only in core/sig.ts, level only in storage/level.ts, @hono/node-server only
 * in main.ts files, @modelcontextprotocol/sdk only in mcp/), no Node built-ins
 * in core, verify or client, nothing imports
 * cli/, scripts/ or test/, and index.ts files never `export *`.
 *
 * Usage: tsx scripts/check-imports.ts [--root <dir>]   (exit 1 on violations)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { builtinModules } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

type Layer = 'core' | 'verify' | 'client' | 'mcp' | 'storage' | 'server' | 'audit' | 'web' | 'cli' | 'witness' | 'scripts' | 'test'

const LAYER_DEPS: Record<Layer, Layer[]> = {
  core: [],
  verify: ['core'],
  client: ['core', 'verify'],
  mcp: ['client', 'core'],
  storage: ['core'],
  audit: ['verify', 'core'],
  server: ['core', 'storage'],
  web: ['verify', 'core'],
  witness: ['core', 'storage'],
  cli: ['client', 'mcp', 'verify', 'audit', 'core', 'server', 'witness'],
  scripts: ['core', 'verify', 'client', 'mcp', 'storage', 'server', 'audit', 'web', 'witness', 'cli'],
  test: ['core', 'verify', 'client', 'mcp', 'storage', 'server', 'audit', 'web', 'witness', 'cli', 'scripts'],
}

// Packages each layer may import (by package name); node built-ins are handled separately.
const LAYER_PACKAGES: Record<Layer, string[]> = {
  core: ['@noble/hashes', '@noble/ed25519', 'cbor-x'],
  verify: [],
  client: [],
  mcp: ['@modelcontextprotocol/sdk', 'ajv'],
  storage: ['level'],
  audit: [],
  web: [],
  server: ['hono', '@hono/node-server', 'prom-client'],
  witness: ['hono', '@hono/node-server', 'prom-client'],
  cli: ['commander', 'cli-progress', 'tsx'],
  scripts: ['*'],
  test: ['*'],
}

// A dependency with a single owner: only these files (relative to the root) may import it.
const OWNERS: Record<string, (file: string) => boolean> = {
  'cbor-x': (f) => f === 'src/core/codec.ts',
  '@noble/ed25519': (f) => f === 'src/core/sig.ts',
  level: (f) => f === 'src/storage/level.ts',
  '@modelcontextprotocol/sdk': (f) => f.startsWith('src/mcp/'),
  '@hono/node-server': (f) => f.endsWith('/main.ts') && (f.startsWith('src/server/') || f.startsWith('witness/')),
}

const NO_NODE: Layer[] = ['core', 'verify', 'web', 'client']

function layerOf(file: string): Layer | undefined {
  const parts = file.split('/')
  if (parts[0] === 'src' && parts[1] !== undefined) {
    const l = parts[1] as Layer
    return l in LAYER_DEPS && l !== 'scripts' && l !== 'test' && l !== 'witness' ? l : undefined
  }
  if (parts[0] === 'witness') return 'witness'
  if (parts[0] === 'scripts') return 'scripts'
  if (parts[0] === 'test') return 'test'
  return undefined
}

function walk(dir: string, out: string[]): void {
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const n of names) {
    if (n === 'node_modules' || n.startsWith('.')) continue
    const p = join(dir, n)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (/\.(ts|js|mjs)$/.test(n)) out.push(p)
  }
}

function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '')
}

function specifiers(src: string): string[] {
  const s = stripComments(src)
  const out: string[] = []
  const patterns = [
    /(?:^|[;\s])(?:import|export)\s[^'"`;]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /(?:^|[;\s])import\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ]
  for (const re of patterns) for (const m of s.matchAll(re)) out.push(m[1]!)
  return out
}

function packageName(spec: string): string {
  const parts = spec.split('/')
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!
}

const BUILTINS = new Set(builtinModules)

/** Returns the violations found under `root`, one message each. */
export function checkImports(root: string): string[] {
  const files: string[] = []
  for (const d of ['src', 'witness', 'scripts', 'test']) walk(join(root, d), files)
  const problems: string[] = []
  for (const abs of files) {
    const file = relative(root, abs).split(sep).join('/')
    if (file.startsWith('test/fixtures/')) continue
    const layer = layerOf(file)
    if (layer === undefined) continue
    const src = readFileSync(abs, 'utf8')
    if (/(^|\/)index\.ts$/.test(file) && /^\s*export\s+\*/m.test(stripComments(src))) {
      problems.push(`${file}: index files list exports by name; "export *" is not allowed`)
    }
    for (const spec of specifiers(src)) {
      if (spec.startsWith('.')) {
        const target = relative(root, resolve(dirname(abs), spec)).split(sep).join('/')
        const tl = layerOf(target)
        if (tl === undefined) {
          problems.push(`${file}: imports ${spec}, outside the source layers`)
          continue
        }
        if (tl === layer) continue
        if ((tl === 'cli' || tl === 'scripts' || tl === 'test') && layer !== 'test') {
          problems.push(`${file}: nothing may import ${tl}/ (${spec})`)
          continue
        }
        if (!LAYER_DEPS[layer].includes(tl)) {
          problems.push(`${file}: ${layer} may not import ${tl} (${spec})`)
          continue
        }
        if ((tl === 'server' || tl === 'witness') && layer === 'cli' && !target.endsWith('/main.ts')) {
          problems.push(`${file}: the CLI may import only the main.ts of ${tl}/ (${spec})`)
        }
        continue
      }
      const isNode = spec.startsWith('node:') || BUILTINS.has(spec) || BUILTINS.has(spec.split('/')[0]!)
      if (isNode) {
        if (NO_NODE.includes(layer)) problems.push(`${file}: ${layer} must not import the Node built-in ${spec}`)
        continue
      }
      const pkg = packageName(spec)
      const allowed = LAYER_PACKAGES[layer]
      if (!allowed.includes('*') && !allowed.includes(pkg)) {
        problems.push(`${file}: ${layer} may not import the package ${pkg}`)
        continue
      }
      const owner = OWNERS[pkg]
      if (owner !== undefined && layer !== 'test' && layer !== 'scripts' && !owner(file)) {
        problems.push(`${file}: only its owner may import ${pkg}`)
      }
    }
  }
  return problems
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const i = process.argv.indexOf('--root')
  const root = resolve(i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : join(dirname(fileURLToPath(import.meta.url)), '..'))
  const problems = checkImports(root)
  if (problems.length > 0) {
    console.error(`check-imports: ${problems.length} boundary violation(s):`)
    for (const p of problems) console.error(`  ${p}`)
    process.exit(1)
  }
  console.log('check-imports: all import boundaries hold')
}
