/**
 * The package as a user gets it: `npm pack`, installed into a fresh project
 * with no network (from the local npm cache only), where a TypeScript file
 * using the SDK's types typechecks, and an ESM script signs a statement,
 * submits it to a real log with two real witnesses, waits for the witnessed
 * proof and verifies it through both entries (`actlog`, `actlog/verify`).
 *
 * Offline installs need every version pinned with its integrity (npm reads
 * the registry's package documents otherwise), so the project's lockfile is
 * made from the repository's: the tarball, plus every runtime package of
 * package-lock.json as it was resolved there (with its overrides).
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SIG_TYPE_ED25519, encodeSignerKey } from '../../src/core/index.ts'
import { makeNetwork, startLogProc, startWitnessProc, type Network } from '../helpers/local-network.ts'
import { ISSUER_NAME, ISSUER_SEED, PREFIX } from '../helpers/log-fixture.ts'
import { removeDir, tempDir, type Proc } from '../helpers/processes.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const NPM_ENV = { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' }

interface LockEntry {
  dev?: boolean
  [k: string]: unknown
}

/** Packs the repository into `dir` and returns the tarball's file name and integrity. */
function pack(dir: string): { filename: string; integrity: string } {
  // dist/ is fresh: the test setup builds it when a source is newer.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, env: NPM_ENV, encoding: 'utf8' })
  const [info] = JSON.parse(out) as { filename: string; integrity: string; files: { path: string }[] }[]
  return info!
}

/** Writes a project in `app` depending on the tarball, with a lockfile pinning every runtime package as the repository resolved it. */
function writeProject(app: string, tarball: string, integrity: string): void {
  const repoPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    version: string
    dependencies: Record<string, string>
    bin: Record<string, string>
    engines: Record<string, string>
    overrides?: Record<string, string>
    allowScripts?: Record<string, boolean>
  }
  const repoLock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { actlog: `file:${tarball}` } },
    'node_modules/actlog': { version: repoPkg.version, resolved: `file:${tarball}`, integrity, dependencies: repoPkg.dependencies, bin: repoPkg.bin, engines: repoPkg.engines },
  }
  for (const [path, entry] of Object.entries(repoLock.packages)) {
    // devOptional entries are optional dependencies of runtime packages too (detect-libc of cbor-extract's loader).
    if (path === '' || entry.dev === true) continue
    packages[path] = entry
  }
  // The repository's overrides and install-script choices come along: they are part of how its lockfile was resolved.
  const project = { name: 'consumer', version: '1.0.0', type: 'module', private: true, dependencies: { actlog: `file:${tarball}` }, overrides: repoPkg.overrides, allowScripts: repoPkg.allowScripts }
  writeFileSync(join(app, 'package.json'), JSON.stringify(project, null, 2))
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2))
}

const TYPES_FILE = `
import { LogClient, LogError, generateKey, issueCredentialChain, requestDigest, signAction, verifyActionProof, type Action, type Added, type ActionVerdict, type Credential, type SignerKey } from 'actlog'
import { verifyActionProof as verifyOnly, type Policy } from 'actlog/verify'

export const action: Action = {
  action: 'payments.transfer',
  target: 'acct:1',
  tool: 'mcp://tools.example/payments@1.0.0',
  params: requestDigest('{"amount":1}'),
  policy: { id: 'limits', version: '1', decision: 'allow' },
}

export async function submitOne(key: SignerKey, chain: Credential[], signal: AbortSignal): Promise<number> {
  const client = new LogClient({ url: 'http://127.0.0.1:1/', retries: 3, timeoutMs: 5_000, signal })
  const added: Added = await client.submit(await signAction(key, chain, action), { waitWitnessed: true })
  try {
    await client.proof(added.index, { treeSize: added.index + 1 })
  } catch (e) {
    if (e instanceof LogError) return e.status + e.code.length
  }
  return added.index
}

export async function check(proof: string, policy: Policy, issuers: string): Promise<string> {
  const v: ActionVerdict = await verifyActionProof(proof, { policy, issuers })
  const w = await verifyOnly(proof, { policy, issuers })
  if (!v.ok) return v.reason
  return w.ok ? v.statement.actor : w.reason
}

export const key: Promise<Credential[]> = issueCredentialChain(generateKey('issuer.example', 'issuer'), { subject: 'a', subjectKey: new Uint8Array(32) })

// @ts-expect-error: params are bytes or hex, not a number
export const wrong: Action = { ...action, params: 42 }
`

const SCRIPT = `
import { LogClient, generateKey, issueCredentialChain, loadKey, requestDigest, signAction, verifyActionProof } from 'actlog'
import { verifyActionProof as verifyOnly } from 'actlog/verify'

const { LOG_URL, ISSUER_KEY, NAMESPACE, POLICY, ISSUERS } = process.env
const issuer = loadKey(ISSUER_KEY)
const actor = generateKey(NAMESPACE + 'agent/packed')
const chain = await issueCredentialChain(issuer, { subject: actor.name, subjectKey: actor, namespace: NAMESPACE })
const entry = await signAction(actor, chain, {
  action: 'payments.transfer',
  target: 'acct:DE89370400440532013000',
  tool: 'mcp://tools.acme.example/payments@1.4.2',
  params: requestDigest('{"amount":1200,"currency":"EUR"}'),
  policy: { id: 'payments-limit', version: '7', decision: 'allow' },
})
const client = new LogClient({ url: LOG_URL, timeoutMs: 20_000 })
const added = await client.submit(entry)
const proof = await client.waitWitnessed(added.index, { signal: AbortSignal.timeout(30_000) })
const verdict = await verifyOnly(proof, { policy: POLICY, issuers: ISSUERS })
const again = await client.submit(entry)
console.log(JSON.stringify({
  index: added.index,
  again: again.index,
  ok: verdict.ok,
  reason: verdict.ok ? undefined : verdict.reason + ': ' + verdict.message,
  actor: verdict.statement?.actor,
  expectedActor: actor.name,
  witnesses: verdict.witnesses?.map((w) => w.name).sort(),
  oneVerifier: verifyActionProof === verifyOnly,
}))
`

let dir: string
let app: string
let net: Network
const procs: Proc[] = []

describe('the packed package in a fresh project', () => {
  beforeAll(async () => {
    dir = tempDir('actlog-pack-')
    app = join(dir, 'app')
    mkdirSync(app)
    const { filename, integrity } = pack(dir)
    writeProject(app, join(dir, filename), integrity)
    const t0 = performance.now()
    const install = spawnSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app, env: NPM_ENV, encoding: 'utf8' })
    console.log(`package: npm ci --offline of the packed tarball in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    if (install.status !== 0) throw new Error(`npm ci --offline failed:\n${install.stdout}${install.stderr}`)
    net = await makeNetwork(join(dir, 'net'))
    for (const i of [0, 1]) procs.push(await startWitnessProc(net, i))
    procs.push(await startLogProc(net))
    // Packing, an offline install and three processes: minutes on a busy 2-core machine.
  }, 240_000)

  afterAll(async () => {
    for (const p of procs) await p.kill9()
    removeDir(dir)
  })

  it('ships only the built package: dist with types and browser bundles, no TypeScript sources', () => {
    const files = execFileSync('find', ['node_modules/actlog', '-type', 'f'], { cwd: app, encoding: 'utf8' }).split('\n')
    expect(files).toContain('node_modules/actlog/dist/src/client/index.js')
    expect(files).toContain('node_modules/actlog/dist/src/client/index.d.ts')
    expect(files).toContain('node_modules/actlog/dist/browser/verify.js')
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([])
  })

  it('typechecks a file using the SDK types (tsc --noEmit, strict, no Node types)', () => {
    writeFileSync(join(app, 'uses-types.ts'), TYPES_FILE)
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], types: [], strict: true, noEmit: true, skipLibCheck: true }, files: ['uses-types.ts'] }),
    )
    const r = spawnSync(process.execPath, [TSC, '--noEmit', '-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' })
    expect(`${r.stdout}${r.stderr}`).toBe('')
    expect(r.status).toBe(0)
  }, 120_000)

  it("type-checks the README's TypeScript examples against the package", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
    const section = /\n## Use actlog from TypeScript\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? ''
    const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    expect(blocks.length).toBeGreaterThanOrEqual(4)
    // The examples follow on from each other, as a reader runs them: one module.
    writeFileSync(join(app, 'readme-example.ts'), blocks.join('\n'))
    writeFileSync(
      join(app, 'tsconfig.readme.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022', 'DOM'], typeRoots: [join(ROOT, 'node_modules/@types')], types: ['node'], strict: true, noEmit: true, skipLibCheck: true },
        files: ['readme-example.ts'],
      }),
    )
    const r = spawnSync(process.execPath, [TSC, '--noEmit', '-p', 'tsconfig.readme.json'], { cwd: app, encoding: 'utf8' })
    expect(`${r.stdout}${r.stderr}`).toBe('')
    expect(r.status).toBe(0)
  }, 120_000)

  it('signs, submits to a real log, and verifies the witnessed proof from an ESM script', () => {
    writeFileSync(join(app, 'submit.mjs'), SCRIPT)
    const r = spawnSync(process.execPath, ['submit.mjs'], {
      cwd: app,
      encoding: 'utf8',
      env: {
        ...process.env,
        LOG_URL: procs[2]!.url,
        ISSUER_KEY: encodeSignerKey(ISSUER_NAME, SIG_TYPE_ED25519, ISSUER_SEED),
        NAMESPACE: PREFIX,
        POLICY: readFileSync(net.policy, 'utf8'),
        ISSUERS: readFileSync(net.issuers, 'utf8'),
      },
    })
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout) as { index: number; again: number; ok: boolean; reason?: string; actor: string; expectedActor: string; witnesses: string[]; oneVerifier: boolean }
    expect(out.reason).toBeUndefined()
    expect(out.ok).toBe(true)
    expect(out.actor).toBe(out.expectedActor)
    expect(out.again).toBe(out.index)
    expect(out.witnesses).toEqual(['W1', 'W2'])
    expect(out.oneVerifier).toBe(true)
  })
})
