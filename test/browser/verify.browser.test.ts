/**
 * The verifier in a real browser. Bundles src/verify/index.ts with esbuild
 * for the browser, checks the bundle holds no Node built-ins, serves it from
 * 127.0.0.1 and runs it in Debian's headless Chromium (playwright-core), so
 * the platform's WebCrypto Ed25519 is what verifies. Checked in the page:
 * every shared statement vector wrapped in a proof, the RFC 8032 and edge
 * case Ed25519 vectors, real proofs from an in-memory log (valid and
 * tampered), and checkpoint consistency.
 *
 * Chromium comes from the Debian package (`apt-get install chromium`); a
 * browser that fails to launch fails this test, it is never skipped.
 */
import { createServer, type Server } from 'node:http'
import { builtinModules } from 'node:module'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { build, type Metafile } from 'esbuild'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeTlogProof, fromHex, parseTlogProof, toHex, utf8 } from '../../src/core/index.ts'
import { loadVectors } from '../helpers/vectors.ts'
import { readFileSync } from 'node:fs'
import { makeNetwork, startLogProc, startWitnessProc } from '../helpers/local-network.ts'
import { statement as fixtureStatement } from '../helpers/log-fixture.ts'
import { removeDir, tempDir, type Proc } from '../helpers/processes.ts'
import {
  ISSUERS_TEXT,
  NOW,
  NOW_S,
  ORIGIN,
  SHARED_VECTORS,
  WITNESSES,
  buildLog,
  cosigners,
  editSignatures,
  flip,
  indexOfBytes,
  mlDsaLine,
  policyText,
  sampleEntries,
  wantedVerdict,
} from '../unit/verify/fixture.ts'
import type { PageData, PageResult } from './page.ts'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const VERIFY_ENTRY = fileURLToPath(new URL('../../src/verify/index.ts', import.meta.url))
const PAGE_ENTRY = fileURLToPath(new URL('./page.ts', import.meta.url))

interface Bundle {
  js: string
  metafile: Metafile
}

async function bundle(entry: string, outfile: string): Promise<Bundle> {
  const r = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    outfile,
    logLevel: 'silent',
  })
  expect(r.errors).toEqual([])
  expect(r.outputFiles).toHaveLength(1)
  return { js: r.outputFiles[0]!.text, metafile: r.metafile }
}

const HTML = `<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>actlog verify</title></head>
<body><script type="module">
import * as verify from '/verify.js'
import * as page from '/page.js'
window.__actlog = { verify, page }
document.title = 'ready'
</script></body></html>
`

let verifyBundle: Bundle
let pageBundle: Bundle
let server: Server
let origin: string
let browser: Browser
let page: Page
const pageErrors: string[] = []

beforeAll(async () => {
  verifyBundle = await bundle(VERIFY_ENTRY, 'verify.js')
  pageBundle = await bundle(PAGE_ENTRY, 'page.js')
  const files: Record<string, [string, string]> = {
    '/': ['text/html; charset=utf-8', HTML],
    '/verify.js': ['text/javascript; charset=utf-8', verifyBundle.js],
    '/page.js': ['text/javascript; charset=utf-8', pageBundle.js],
  }
  server = createServer((req, res) => {
    const f = files[new URL(req.url ?? '/', 'http://x').pathname]
    if (f === undefined) {
      res.writeHead(404).end()
      return
    }
    res.writeHead(200, { 'content-type': f[0], 'cache-control': 'no-store' }).end(f[1])
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await browser?.close()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
})

describe('the browser bundle of src/verify', () => {
  it('contains no Node built-ins', () => {
    const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]))
    for (const input of Object.keys(verifyBundle.metafile.inputs)) {
      expect(input.startsWith('node:') || builtins.has(input), input).toBe(false)
    }
    for (const out of Object.values(verifyBundle.metafile.outputs)) {
      // Nothing left for the runtime to resolve: no external import at all.
      expect(out.imports.filter((i) => i.external)).toEqual([])
    }
    expect(verifyBundle.js).not.toMatch(/\brequire\s*\(/)
    expect(verifyBundle.js).not.toMatch(/["'`]node:/)
    expect(verifyBundle.js).not.toMatch(/\bprocess\.(env|versions|nextTick)/)
  })

  it('holds only src/core, src/verify and their declared packages', () => {
    for (const input of Object.keys(verifyBundle.metafile.inputs)) {
      expect(input, input).toMatch(/^(src\/(core|verify)\/|node_modules\/(@noble\/(hashes|ed25519)|cbor-x)\/)/)
    }
  })
})

describe('the verifier in headless Chromium', () => {
  let result: PageResult

  // Launching is a test, not a hook: a browser that does not start is a
  // failed test (and every test after it fails too), never a skipped one.
  it("launches Debian's Chromium and loads both bundles", async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    page = await browser.newPage()
    page.on('pageerror', (e) => pageErrors.push(String(e)))
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text())
    })
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => document.title === 'ready', undefined, { timeout: 20_000 })
  })

  it('runs every check in the page without a page error', async () => {
    expect(page, 'the browser did not start').toBeDefined()
    const data = await pageData()
    result = await page.evaluate(([d]) => (window as any).__actlog.page.run((window as any).__actlog.verify, d), [data] as const)
    expect(result.checks.length).toBeGreaterThan(50)
    expect(result.userAgent).toMatch(/Chrome\//)
    expect(pageErrors).toEqual([])
  })

  it("verifies with the browser's WebCrypto Ed25519, not the fallback", () => {
    expect(result.webCryptoEd25519).toBe(true)
    expect(result.runtime).toEqual({ ed25519: 'webcrypto' })
  })

  for (const group of ['proof', 'proof (cached)', 'consistency', 'ed25519 webcrypto', 'ed25519 noble', 'ed25519 crypto.subtle']) {
    it(`gives the wanted verdicts: ${group}`, () => {
      const checks = result.checks.filter((c) => c.group === group)
      expect(checks.length).toBeGreaterThan(0)
      const wrong = checks.filter((c) => c.got !== c.want)
      expect(wrong, JSON.stringify(wrong, null, 1)).toEqual([])
    })
  }

  it('checked every shared statement vector, every Ed25519 vector and the real proofs', () => {
    const names = (g: string): string[] => result.checks.filter((c) => c.group === g).map((c) => c.name)
    for (const v of SHARED_VECTORS) expect(names('proof')).toContain(`vector: ${v.name}`)
    const edCount = loadVectors('rfc8032-ed25519.json').vectors.length + loadVectors('ed25519-edge-cases.json').vectors.length
    expect(names('ed25519 webcrypto')).toHaveLength(edCount)
    expect(names('ed25519 crypto.subtle')).toHaveLength(loadVectors('rfc8032-ed25519.json').vectors.length)
    expect(names('proof').filter((n) => n.startsWith('log:')).length).toBeGreaterThanOrEqual(8)
  })
})

/** Builds everything the page checks, in Node, with core only. */
async function pageData(): Promise<PageData> {
  const proofs: PageData['proofs'] = []

  const shared = await buildLog(SHARED_VECTORS.map((v) => fromHex(v.entry_hex)))
  for (let i = 0; i < SHARED_VECTORS.length; i++) {
    proofs.push({ name: `vector: ${SHARED_VECTORS[i]!.name}`, proof: await shared.proof(i), want: wantedVerdict(SHARED_VECTORS[i]!) })
  }

  const entries = await sampleEntries(6)
  const log = await buildLog(entries, { extraLines: [mlDsaLine(WITNESSES[0].keyName)] })
  for (let i = 0; i < entries.length; i++) proofs.push({ name: `log: entry ${i}`, proof: await log.proof(i), want: 'ok' })
  const p2 = await log.proof(2)
  const flipCosig = editSignatures(log.note, (s) => s.map((x) => (x.name === WITNESSES[1].keyName ? { ...x, signature: flip(x.signature, 20) } : x)))
  const parsed = parseTlogProof(p2)
  const forged = flip(entries[2]!, indexOfBytes(entries[2]!, utf8('payments.transfer')), 0x20)
  const forgedLog = await buildLog([...entries, forged])
  const future = await buildLog(entries, { cosigners: cosigners([NOW_S, NOW_S + 601, NOW_S]) })
  proofs.push(
    { name: 'log: cosignature flipped', proof: await log.proof(2, flipCosig), want: 'BAD_COSIGNATURE' },
    { name: 'log: proof hash flipped', proof: encodeTlogProof({ ...parsed, proof: parsed.proof.map((h, j) => (j === 1 ? flip(h, 3) : h)) }), want: 'BAD_INCLUSION' },
    { name: 'log: payload flipped in the file', proof: encodeTlogProof({ ...parsed, extra: forged }), want: 'BAD_INCLUSION' },
    { name: 'log: payload flipped, then logged', proof: await forgedLog.proof(entries.length), want: 'BAD_STATEMENT_SIGNATURE' },
    { name: 'log: future cosignature', proof: await future.proof(0), want: 'FUTURE_COSIGNATURE' },
    { name: 'log: not a proof', proof: 'c2sp.org/tlog-proof@v1\nindex x\n', want: 'MALFORMED_PROOF' },
    { name: 'log: checkpoint of another origin', proof: p2.replace(`\n\n${ORIGIN}\n`, `\n\n${ORIGIN}.evil\n`), want: 'UNKNOWN_LOG' },
  )

  const old = await buildLog(entries.slice(0, 4))
  const forkedOld = await buildLog([entries[1]!, ...entries.slice(1, 4)])
  const consistency: PageData['consistency'] = [
    { name: 'prefix', old: old.note, new: log.note, proofHex: log.tree.consistency(4, 6).map(toHex), want: 'ok' },
    { name: 'fork', old: forkedOld.note, new: log.note, proofHex: log.tree.consistency(4, 6).map(toHex), want: 'INCONSISTENT' },
  ]

  type EdVector = { name: string; input: { publicKeyHex: string; messageHex: string; signatureHex: string }; want: { valid: boolean } }
  const rfc = loadVectors<{ vectors: EdVector[] }>('rfc8032-ed25519.json').vectors
  const edge = loadVectors<{ vectors: EdVector[] }>('ed25519-edge-cases.json').vectors
  const ed25519 = [...rfc, ...edge].map((v) => ({ name: v.name, ...v.input, valid: v.want.valid }))

  return { policy: policyText(), issuers: ISSUERS_TEXT, now: NOW, proofs, consistency, ed25519, rfc8032: rfc.map((v) => v.name) }
}

describe('a witnessed proof from running log and witness processes, verified in Chromium', () => {
  let dir: string | undefined
  const procs: Proc[] = []

  afterAll(async () => {
    for (const p of procs) await p.kill9()
    if (dir !== undefined) removeDir(dir)
  })

  it('accepts it, and refuses it with a flipped cosignature', async () => {
    expect(page, 'the browser did not start').toBeDefined()
    dir = tempDir('actlog-browser-')
    const net = await makeNetwork(dir)
    for (const i of [0, 1]) procs.push(await startWitnessProc(net, i))
    const log = await startLogProc(net)
    procs.push(log)
    const res = await fetch(`${log.url}/add?wait=witnessed`, {
      method: 'POST',
      headers: { 'content-type': 'application/cose' },
      body: (await fixtureStatement(1, Date.now())) as BodyInit,
    })
    expect(res.status).toBe(200)
    const proof = ((await res.json()) as { proof: string }).proof
    const lines = proof.trimEnd().split('\n')
    const last = lines[lines.length - 1]!
    const tampered = [...lines.slice(0, -1), last.slice(0, -6) + (last.at(-6) === 'A' ? 'B' : 'A') + last.slice(-5)].join('\n') + '\n'
    const data = { policy: readFileSync(net.policy, 'utf8'), issuers: readFileSync(net.issuers, 'utf8'), proofs: [proof, tampered] }
    const verdicts = await page.evaluate(async ([d]) => {
      const v = (window as any).__actlog.verify
      const policy = v.parsePolicy(d.policy)
      const issuers = v.parseTrustedIssuers(d.issuers)
      const out = []
      for (const p of d.proofs) {
        const r = await v.verifyActionProof(p, { policy, issuers })
        out.push(r.ok ? { ok: true, witnesses: r.witnesses.map((w: { name: string }) => w.name) } : { ok: false, reason: r.reason })
      }
      return out
    }, [data] as const)
    expect(verdicts[0]).toEqual({ ok: true, witnesses: ['W1', 'W2'] })
    expect(verdicts[1]).toEqual({ ok: false, reason: 'BAD_COSIGNATURE' })
  })
})
