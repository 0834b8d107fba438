/**
 * The web console in Debian's headless Chromium, against a real log process
 * with two real witnesses: the page at `/`, a dropped proof (valid and
 * tampered), a batch of 200 proofs, the Log and Entry views, the static
 * page from file:// with the network blocked, the witness page, and the
 * audit report (`actlog audit --report`) opened from disk. One browser launch and one log for the
 * whole file. Screenshots go to test-results/console/ (and to docs/img/
 * with ACTLOG_UPDATE_SCREENSHOTS=1), each checked to be non-blank.
 *
 * A browser that fails to launch fails this file; it is never skipped.
 */
import { mkdirSync, readFileSync, readdirSync, writeFileSync, copyFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeCbor, encodeTlogProof, parseCheckpoint, parseNote, parseStatement, parseTlogProof, type ActionStatement } from '../../src/core/index.ts'
import { writeConsole } from '../../scripts/build-web.ts'
import { makeNetwork, startLogProc, startWitnessProc, type Network } from '../helpers/local-network.ts'
import { PREFIX, agentCredential, statement } from '../helpers/log-fixture.ts'
import { removeDir, runActlog, tempDir, type Proc } from '../helpers/processes.ts'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SHOTS = join(ROOT, 'test-results', 'console')
const DOCS_IMG = join(ROOT, 'docs', 'img')
const COUNT = 200
/** The screenshots the README shows (docs/img/console-<name>.png). */
const README_SHOTS = ['verify', 'log', 'batch', 'entry', 'audit-report']
const BILLING = `${PREFIX}agent/billing`
const ACTIONS = ['payments.transfer', 'payments.refund', 'ledger.read']

let dir: string
let net: Network
let log: Proc
const procs: Proc[] = []
let browser: Browser
let context: BrowserContext
let page: Page
const pageErrors: string[] = []
/** The witnessed proofs, by index. */
let proofs: string[] = []
/** The files of the batch, and the verdict each must get. */
const batch: { file: string; want: string }[] = []
const shots: string[] = []

/** Statement `i` of the log: two identities, three actions, times spread over the last minutes. */
async function entry(i: number, now: number): Promise<Uint8Array> {
  const time = now - (COUNT - i) * 900
  const action = ACTIONS[i % 3]!
  if (i % 4 === 3) return statement(i, time, { actor: BILLING, action }, [await agentCredential({ subject: BILLING })])
  return statement(i, time, { action })
}

function tamperCosignature(proof: string): string {
  const lines = proof.trimEnd().split('\n')
  const last = lines[lines.length - 1]!
  return [...lines.slice(0, -1), last.slice(0, -6) + (last.at(-6) === 'A' ? 'B' : 'A') + last.slice(-5)].join('\n') + '\n'
}

function tamperInclusion(proof: string): string {
  const p = parseTlogProof(proof)
  return encodeTlogProof({ ...p, proof: p.proof.map((h, j) => (j === 0 ? h.map((b, k) => (k === 3 ? b ^ 1 : b)) : h)) })
}

async function shot(p: Page, name: string, fullPage = true): Promise<void> {
  mkdirSync(SHOTS, { recursive: true })
  const file = join(SHOTS, `${name}.png`)
  writeFileSync(file, await p.screenshot({ fullPage }))
  shots.push(file)
  if (process.env.ACTLOG_UPDATE_SCREENSHOTS === '1' && README_SHOTS.includes(name)) {
    mkdirSync(DOCS_IMG, { recursive: true })
    copyFileSync(file, join(DOCS_IMG, `console-${name}.png`))
  }
}

beforeAll(async () => {
  // The log serves the page the build writes: build it first, as npm run build:web does.
  await writeConsole()
  dir = tempDir('actlog-console-')
  net = await makeNetwork(dir)
  for (const i of [0, 1]) procs.push(await startWitnessProc(net, i))
  log = await startLogProc(net)
  procs.push(log)
  const now = Date.now()
  const entries = await Promise.all(Array.from({ length: COUNT }, (_, i) => entry(i, now)))
  proofs = []
  // Two batches, each witnessed before the next: the first entries' proofs
  // carry an older checkpoint than the log's last (the lagging-witness test uses one).
  for (const part of [entries.slice(0, 20), entries.slice(20)]) {
    const res = await fetch(`${log.url}/add-batch?wait=witnessed`, { method: 'POST', headers: { 'content-type': 'application/cbor' }, body: encodeCbor(part) as BodyInit })
    expect(res.status).toBe(200)
    for (const r of ((await res.json()) as { results: { index: number; proof: string }[] }).results) proofs[r.index] = r.proof
  }
  expect(proofs.filter((p) => typeof p === 'string')).toHaveLength(COUNT)
  const proofDir = join(dir, 'proofs')
  mkdirSync(proofDir)
  const tampered: Record<number, [string, string]> = {
    17: [tamperCosignature(proofs[17]!), 'BAD_COSIGNATURE'],
    64: [tamperInclusion(proofs[64]!), 'BAD_INCLUSION'],
    150: ['c2sp.org/tlog-proof@v1\nindex x\n', 'MALFORMED_PROOF'],
  }
  for (let i = 0; i < COUNT; i++) {
    const file = join(proofDir, `${String(i).padStart(3, '0')}.tlog-proof`)
    writeFileSync(file, tampered[i]?.[0] ?? proofs[i]!)
    batch.push({ file, want: tampered[i]?.[1] ?? 'VALID' })
  }
}, 120_000)

afterAll(async () => {
  await browser?.close()
  for (const p of procs) await p.kill9()
  if (dir !== undefined) removeDir(dir)
})

/** Returns the statement the log holds at `index`, read from its proof in Node. */
function logged(index: number): ActionStatement {
  return parseStatement(parseTlogProof(proofs[index]!).extra!).statement
}

/** Drops files on the drop zone as a person's drag and drop does: a DataTransfer in a drop event. */
async function dropFiles(p: Page, files: { name: string; text: string }[]): Promise<void> {
  await p.evaluate((fs) => {
    const dt = new DataTransfer()
    for (const f of fs) dt.items.add(new File([f.text], f.name, { type: 'text/plain' }))
    const zone = document.getElementById('dropzone')!
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }))
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }))
  }, files)
}

describe('the web console served by a log with two witnesses', () => {
  it("launches Debian's Chromium and loads the console at /", async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    context = await browser.newContext({ viewport: { width: 1100, height: 900 }, acceptDownloads: true })
    page = await context.newPage()
    page.on('pageerror', (e) => pageErrors.push(String(e)))
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text())
    })
    const res = await page.goto(`${log.url}/`)
    expect(res?.status()).toBe(200)
    expect(res?.headers()['content-security-policy']).toMatch(/script-src 'sha256-/)
    await page.waitForSelector('#dropzone')
    expect(await page.title()).toBe('Verify · actlog')
    // Prefilled with the serving log's own policy and issuers.
    expect(await page.inputValue('#policy')).toBe(readFileSync(net.policy, 'utf8'))
    expect(await page.inputValue('#issuers')).toBe(readFileSync(net.issuers, 'utf8'))
    expect(pageErrors).toEqual([])
  })

  it('shows VALID with the actor, the lineage and both witnesses for a real proof dropped on it', async () => {
    await dropFiles(page, [{ name: '4.tlog-proof', text: proofs[4]! }])
    const card = page.locator('#verify-results .verdict')
    await card.waitFor()
    expect(await card.getAttribute('data-verdict')).toBe('VALID')
    const text = await card.innerText()
    expect(text).toContain('✓ VALID')
    const want = logged(4)
    expect(text).toContain(want.actor)
    expect(text).toContain(want.action)
    expect(text).toContain(want.target)
    expect(text).toMatch(/W1 cosigned at \d{4}-/)
    expect(text).toMatch(/W2 cosigned at \d{4}-/)
    expect(text).toContain('issuer.fixture.example')
    expect(text).toMatch(/Provably logged by\s+\d{4}-/)
    expect(text).toMatch(/Log index\s+4/)
    expect(pageErrors).toEqual([])
    await shot(page, 'verify')
  })

  it('shows INVALID with the reason code for a tampered proof, picked with the keyboard alone', async () => {
    const file = join(dir, 'tampered.tlog-proof')
    writeFileSync(file, tamperCosignature(proofs[9]!))
    // Enter on the focused drop zone opens the file input (the picker); the file is then set on that input.
    await page.$eval('#proof-files', (el) => el.addEventListener('click', () => ((window as unknown as { picked: boolean }).picked = true)))
    await page.focus('#dropzone')
    await page.keyboard.press('Enter')
    expect(await page.evaluate(() => (window as unknown as { picked?: boolean }).picked)).toBe(true)
    expect(await page.getAttribute('#proof-files', 'multiple')).not.toBeNull()
    await page.setInputFiles('#proof-files', file)
    const card = page.locator('#verify-results .verdict')
    await page.waitForSelector('#verify-results .verdict[data-verdict="INVALID"]')
    const text = await card.innerText()
    expect(text).toContain('✗ INVALID')
    expect(text).toContain('BAD_COSIGNATURE')
    expect(text).toContain("a policy witness's cosignature/v1 on the checkpoint does not verify")
    await shot(page, 'verify-invalid')
  })

  it('verifies a batch of 200 proofs (three tampered) into a table with the right verdicts, sortable and exported as CSV', async () => {
    await page.setInputFiles('#proof-files', batch.map((b) => b.file))
    await page.waitForSelector('#verify-status[data-valid]')
    const status = page.locator('#verify-status')
    expect(await status.getAttribute('data-valid')).toBe(String(COUNT - 3))
    expect(await status.getAttribute('data-invalid')).toBe('3')
    const seconds = Number(await status.getAttribute('data-seconds'))
    console.log(`console: Chromium verified ${COUNT} proofs in the batch view in ${seconds.toFixed(3)} s (${Math.round(COUNT / seconds)} proofs/s)`)
    const rows = await page.$$eval('#batch-table tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent ?? '')))
    expect(rows).toHaveLength(COUNT)
    const got = new Map(rows.map((r) => [r[0]!, r[1]!.includes('INVALID') ? r[2]! : 'VALID']))
    for (const b of batch) expect(got.get(b.file.split('/').pop()!), b.file).toBe(b.want)
    // Sorted by verdict, invalid first; then sort by index (a button, reached by keyboard).
    expect(rows.slice(0, 3).every((r) => r[1]!.includes('INVALID'))).toBe(true)
    await page.getByRole('button', { name: 'Index' }).focus()
    await page.keyboard.press('Enter')
    const indices = await page.$$eval('#batch-table tbody tr td:nth-child(8)', (tds) => tds.map((td) => td.textContent ?? ''))
    const numbers = indices.filter((x) => x !== '').map(Number)
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b))
    expect(await page.getAttribute('#batch-table th[aria-sort="ascending"]', 'aria-sort')).toBe('ascending')
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#export-csv')])
    const csv = readFileSync((await download.path())!, 'utf8').trimEnd().split('\r\n')
    expect(csv).toHaveLength(COUNT + 1)
    expect(csv[0]).toMatch(/^name,verdict,reason,actor,/)
    expect(csv.filter((l) => l.includes(',INVALID,')).length).toBe(3)
    expect(csv.some((l) => l.startsWith('017.tlog-proof,INVALID,BAD_COSIGNATURE,'))).toBe(true)
    await shot(page, 'batch', false)
    // A file name opens its full verdict above the table.
    await page.click('#batch-table tbody tr:first-child button.link')
    await page.waitForSelector('#batch-detail .verdict')
  })

  it('shows the checkpoint size the log serves, both witnesses and the newest entries on the Log page', async () => {
    const note = await (await fetch(`${log.url}/checkpoint`)).text()
    const size = parseCheckpoint(parseNote(note).text).treeSize
    await page.goto(`${log.url}/#/log`)
    await page.waitForSelector('#entry-table')
    await page.waitForSelector('#activity-summary')
    expect(await page.getAttribute('#tree-size', 'data-size')).toBe(String(size))
    const witnesses = await page.$$eval('#witnesses tbody tr', (trs) => trs.map((tr) => tr.getAttribute('data-witness') + ' ' + (tr.textContent ?? '')))
    expect(witnesses).toHaveLength(2)
    expect(witnesses[0]).toMatch(/^W1 .*✓ at .*✓ up to date/)
    expect(witnesses[1]).toMatch(/^W2 .*✓ at .*✓ up to date/)
    expect(await page.innerText('#checkpoint')).toContain('✓ log signature and witness quorum verified')
    const newest = await page.$$eval('#entry-table tbody tr td:first-child', (tds) => tds.map((td) => td.textContent))
    expect(newest).toEqual(Array.from({ length: 20 }, (_, i) => String(size - 1 - i)))
    expect(await page.innerText('#activity-summary')).toMatch(new RegExp(`^${COUNT} entries in the last hour`))
    expect(pageErrors).toEqual([])
    await shot(page, 'log')
    // Paging back reads older entry bundles.
    await page.click('#older')
    await page.waitForFunction(() => document.querySelector('#entry-table tbody tr td')?.textContent === '179')
  })

  it('shows a witness that lags, and one that cannot be reached', async () => {
    const note = await (await fetch(`${log.url}/checkpoint`)).text()
    const size = parseCheckpoint(parseNote(note).text).treeSize
    // W2's monitoring endpoint answers with an older checkpoint it really cosigned (the one in the first proof); W1's does not answer.
    const old = parseTlogProof(proofs[0]!).checkpoint
    const oldSize = parseCheckpoint(parseNote(old).text).treeSize
    expect(oldSize).toBeLessThan(size)
    const p = await context.newPage()
    await p.route(`${procs[1]!.url}/**`, (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: old, headers: { 'access-control-allow-origin': '*' } }))
    await p.route(`${procs[0]!.url}/**`, (route) => route.abort())
    await p.goto(`${log.url}/#/log`)
    await p.waitForSelector('#witnesses tbody tr')
    const rows = await p.$$eval('#witnesses tbody tr', (trs) => trs.map((tr) => tr.textContent ?? ''))
    expect(rows[0]).toMatch(/unreachable/)
    expect(rows[0]).toMatch(/cosigned; cannot be asked directly/)
    expect(rows[1]).toContain(`✗ lags by ${size - oldSize} entries`)
    await p.close()
  })

  it('decodes an entry on its page, and its downloaded proof verifies with actlog verify', async () => {
    await page.goto(`${log.url}/#/entry/7`)
    const card = page.locator('#entry .verdict')
    await card.waitFor()
    expect(await card.getAttribute('data-verdict')).toBe('VALID')
    const text = await card.innerText()
    const want = logged(7)
    expect(text).toContain(want.actor)
    expect(text).toContain(want.action)
    expect(text).toContain(want.target)
    expect(text).toContain('trusted issuer issuer.fixture.example of organisation fixture')
    expect(await page.innerText('#entry summary')).toMatch(/^Inclusion proof \(\d+ hashes/)
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-proof')])
    expect(download.suggestedFilename()).toBe('7.tlog-proof')
    const file = join(dir, 'downloaded-7.tlog-proof')
    await download.saveAs(file)
    const r = await runActlog(['verify', file, '--policy', net.policy, '--issuers', net.issuers])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toContain(want.actor)
    await shot(page, 'entry')
  })

  it('fits a phone: nothing scrolls sideways at 390 px, and a verdict still reads', async () => {
    const phone = await context.newPage()
    await phone.setViewportSize({ width: 390, height: 844 })
    await phone.goto(`${log.url}/`)
    await dropFiles(phone, [{ name: '4.tlog-proof', text: proofs[4]! }])
    await phone.waitForSelector('#verify-results .verdict[data-verdict="VALID"]')
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390)
    await shot(phone, 'verify-phone')
    await phone.close()
  })

  it('serves a witness page listing the log and its latest cosigned size', async () => {
    const note = await (await fetch(`${log.url}/checkpoint`)).text()
    const size = parseCheckpoint(parseNote(note).text).treeSize
    const w = await context.newPage()
    await w.goto(`${procs[0]!.url}/`)
    const row = w.locator('tr[data-origin]')
    expect(await row.count()).toBe(1)
    expect(Number(await row.locator('td.size').innerText())).toBe(size)
    await shot(w, 'witness')
    await w.close()
  })

  it('writes an audit report that opens from disk, its counts equal to the audit records', async () => {
    const state = join(dir, 'audit')
    const report = join(dir, 'audit-report.html')
    const r = await runActlog(['audit', '--log', log.url, '--policy', net.policy, '--issuers', net.issuers, '--state', state, '--report', report])
    expect(r.code, r.stderr).toBe(0)
    const st = JSON.parse(readFileSync(join(state, 'state.json'), 'utf8')) as { counts: Record<string, number>; trusted: { treeSize: number } }
    const fromRecords: Record<string, number> = {}
    for (const f of readdirSync(join(state, 'records')).filter((n) => n.endsWith('.jsonl'))) {
      for (const line of readFileSync(join(state, 'records', f), 'utf8').split('\n')) {
        if (line === '') continue
        const actor = (JSON.parse(line) as { actor: string }).actor
        fromRecords[actor] = (fromRecords[actor] ?? 0) + 1
      }
    }
    expect(fromRecords).toEqual(st.counts)
    expect(Object.keys(st.counts).sort()).toEqual([BILLING, `${PREFIX}agent/payments`])
    const p = await context.newPage()
    await p.goto(pathToFileURL(report).href)
    const shown = await p.$$eval('#identities tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-identity'), Number(tr.querySelector('td.count')?.textContent)] as const))
    expect(Object.fromEntries(shown)).toEqual(st.counts)
    const orgs = await p.$$eval('#orgs tbody tr', (trs) => trs.map((tr) => [tr.getAttribute('data-org'), Number(tr.querySelector('td.count')?.textContent)] as const))
    expect(orgs).toEqual([['fixture', COUNT]])
    expect(await p.getAttribute('#checkpoint', 'data-size')).toBe(String(st.trusted.treeSize))
    expect(await p.getAttribute('#total', 'data-count')).toBe(String(COUNT))
    expect(await p.innerText('body')).toContain('✓ Complete')
    expect(await p.innerText('#problems')).toMatch(/^None/)
    expect(await p.locator('svg.timeline').count()).toBe(2)
    await shot(p, 'audit-report')
    await p.close()
  })

  it('sends CORS headers on the read endpoints only', async () => {
    const origin = { origin: 'https://partner.example' }
    for (const path of ['/checkpoint', '/tile/entries/000.p/200', '/proof/3']) {
      const r = await fetch(`${log.url}${path}`, { headers: origin })
      expect(r.status, path).toBe(200)
      expect(r.headers.get('access-control-allow-origin'), path).toBe('*')
    }
    const pre = await fetch(`${log.url}/add`, { method: 'OPTIONS', headers: { ...origin, 'access-control-request-method': 'POST' } })
    expect(pre.headers.get('access-control-allow-origin')).toBeNull()
    const add = await fetch(`${log.url}/add`, { method: 'POST', headers: { ...origin, 'content-type': 'application/cose' }, body: new Uint8Array([1]) })
    expect(add.headers.get('access-control-allow-origin')).toBeNull()
    const batchAdd = await fetch(`${log.url}/add-batch`, { method: 'POST', headers: { ...origin, 'content-type': 'application/cbor' }, body: new Uint8Array([0x80]) })
    expect(batchAdd.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('the static console file from file://, with the network blocked', () => {
  it('verifies a proof with no request leaving the page', async () => {
    const file = await writeConsole()
    const offline = await browser.newContext({ offline: true })
    const requests: string[] = []
    await offline.route(/^https?:/, (route) => {
      requests.push(route.request().url())
      return route.abort()
    })
    const p = await offline.newPage()
    const errors: string[] = []
    p.on('pageerror', (e) => errors.push(String(e)))
    p.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) requests.push(r.url())
    })
    await p.goto(pathToFileURL(file).href)
    await p.waitForSelector('#dropzone')
    expect(await p.innerText('h1')).toContain('offline verifier')
    await p.fill('#policy', readFileSync(net.policy, 'utf8'))
    await p.fill('#issuers', readFileSync(net.issuers, 'utf8'))
    await p.setInputFiles('#proof-files', [batch[5]!.file])
    await p.waitForSelector('#verify-results .verdict')
    expect(await p.getAttribute('#verify-results .verdict', 'data-verdict')).toBe('VALID')
    expect(await p.innerText('#verify-results .verdict')).toContain(logged(5).target)
    await shot(p, 'offline')
    expect(requests).toEqual([])
    expect(errors).toEqual([])
    await offline.close()
  })
})

describe('the screenshots', () => {
  it('were all taken and none is blank', async () => {
    expect(shots.map((f) => f.split('/').pop())).toEqual(['verify.png', 'verify-invalid.png', 'batch.png', 'log.png', 'entry.png', 'verify-phone.png', 'witness.png', 'audit-report.png', 'offline.png'])
    const p = await browser.newPage()
    for (const f of shots) {
      const png = readFileSync(f)
      // Decoded by the browser: the share of pixels unlike the top-left one, and the number of distinct colours.
      const stats = await p.evaluate(async (b64) => {
        const img = new Image()
        img.src = `data:image/png;base64,${b64}`
        await img.decode()
        // Scaled to 400 px wide: enough to tell a page from a blank one, and fast.
        const c = document.createElement('canvas')
        c.width = 400
        c.height = Math.max(1, Math.round((img.height * 400) / img.width))
        const g = c.getContext('2d')!
        g.drawImage(img, 0, 0, c.width, c.height)
        const d = g.getImageData(0, 0, c.width, c.height).data
        const colours = new Set<number>()
        let differ = 0
        for (let i = 0; i < d.length; i += 4) {
          const v = (d[i]! << 16) | (d[i + 1]! << 8) | d[i + 2]!
          colours.add(v)
          if (d[i] !== d[0] || d[i + 1] !== d[1] || d[i + 2] !== d[2]) differ++
        }
        return { width: img.width, height: img.height, differ: differ / (d.length / 4), colours: colours.size }
      }, png.toString('base64'))
      expect(stats.width, f).toBeGreaterThan(300)
      expect(stats.differ, f).toBeGreaterThan(0.01)
      expect(stats.colours, f).toBeGreaterThan(16)
    }
    await p.close()
    expect(readdirSync(SHOTS).length).toBeGreaterThanOrEqual(shots.length)
  })
})
