/**
 * Hostile input against every HTTP endpoint of a running log and a running
 * witness (real `actlog serve` and `actlog witness` processes): random and
 * mutated bodies (mutations of real statements, real /add-batch bodies and
 * real add-checkpoint bodies), oversized, truncated and chunked bodies,
 * wrong content types, odd path encodings (percent-encoding, double slashes,
 * dot segments, overlong paths, unicode, raw non-ASCII bytes), huge numbers
 * (indices, tile coordinates, sizes, `?size=`, `old`), deep CBOR nesting,
 * wrong methods, malformed HTTP, and slow senders that trickle or stall.
 *
 * It checks, throughout and at the end:
 *  - no crash: both processes stay up and answer /healthz;
 *  - no 5xx but 503 (and every 503 carries Retry-After);
 *  - every error the log's app answers is JSON {code, message}; the
 *    witness answers in text as tlog-witness says (409: text/x.tlog.size);
 *    answers written by Node's HTTP parser itself (400/408/413/431 with no
 *    body, for requests that are not HTTP) are counted apart;
 *  - stored state unchanged: the log's /checkpoint and tree size, the
 *    witness's monitoring checkpoint, compared every second and at the end;
 *  - bounded memory: the RSS of both processes, sampled every second;
 *  - slow senders are cut off by the servers' timeouts, and meanwhile
 *    everyone else is served.
 *
 * Usage: npx tsx scripts/hostile.ts [--requests N] [--concurrency C]
 *          [--seed S] [--slow K] [--json]        (default 1,000,000 requests)
 * Exits 1 on any violation.
 */
import http from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import {
  MAX_ADD_CHECKPOINT_BODY,
  MAX_ENTRY_SIZE,
  TLOG_ERROR_CODES,
  encodeAddCheckpointRequest,
  consistencyProof,
  encodeCbor,
  parseCheckpoint,
  parseNote,
  parseTlogProof,
} from '../src/core/index.ts'
import {
  Actor,
  MONITOR_PATH,
  TileClient,
  randInt,
  rssOf,
  seededRandom,
  sleep,
  startLog,
  startWitness,
  submitLoad,
  writeNetwork,
  type Child,
  type Network,
} from './reliability-kit.ts'

/** What a hostile run does. */
export interface HostileOptions {
  /** Requests to send, all kinds together (default 1,000,000). */
  requests?: number
  /** Requests in flight (default 48). */
  concurrency?: number
  seed?: number
  /** Slow senders held open at the start (default 200). */
  slowSenders?: number
  /** Wait for the slow senders to be cut off (default true). */
  waitForSlow?: boolean
  dir?: string
  keep?: boolean
  log?: (line: string) => void
}

/** RSS samples of one process, in bytes. */
export interface RssFigures {
  before: number
  peak: number
  after: number
}

/** The figures of a hostile run. */
export interface HostileSummary {
  seed: number
  requests: number
  seconds: number
  perSecond: number
  /** Requests by kind of input. */
  byKind: Record<string, number>
  /** The longest wait for an answer, by kind of input, in ms. */
  slowest: Record<string, number>
  /** Answers by server and status ('none' when the connection closed without one). */
  byStatus: { log: Record<string, number>; witness: Record<string, number> }
  /** Answers written by Node's HTTP parser (requests that are not HTTP), not by the apps. */
  parserAnswers: number
  /** Processes that exited. */
  crashes: number
  /** Broken promises (5xx, a non-JSON log error, a changed state, ...); the first 50 described. */
  violations: number
  samples: string[]
  stateUnchanged: boolean
  rss: { log: RssFigures; witness: RssFigures }
  slow: { opened: number; cutOff: number; earliestMs: number; latestMs: number; healthzMsWhileHeld: number }
  /** Evidence records the witness kept for signed refusals (bounded by its limits). */
  witnessEvidence: number
}

// ---------------------------------------------------------------- HTTP

interface Req {
  kind: string
  to: 'log' | 'witness'
  method: string
  path: string
  headers?: Record<string, string>
  body?: Uint8Array
  /** Send the body chunked, in pieces, without a length. */
  chunked?: boolean
  /** Send these bytes on a fresh connection instead (malformed HTTP, raw paths, truncated bodies). */
  raw?: Uint8Array
  /** The client closes its side after sending `raw` (a truncated body): no answer is expected. */
  halfClose?: boolean
}

interface Res {
  /** 0 when the connection closed without an answer. */
  status: number
  headers: Record<string, string>
  body: Uint8Array
  error?: string
}

const MAX_ANSWER = 8 * 1024 * 1024

function sendHttp(agent: http.Agent, port: number, r: Req): Promise<Res> {
  return new Promise((resolve) => {
    let done = false
    const finish = (res: Res): void => {
      if (!done) {
        done = true
        resolve(res)
      }
    }
    let req: http.ClientRequest
    try {
      const headers: Record<string, string> = { ...r.headers }
      if (r.body !== undefined && !r.chunked) headers['content-length'] = String(r.body.length)
      req = http.request({ agent, host: '127.0.0.1', port, method: r.method, path: r.path, headers }, (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (c: Buffer) => {
          size += c.length
          if (size <= MAX_ANSWER) chunks.push(c)
        })
        res.on('end', () => finish({ status: res.statusCode ?? 0, headers: res.headers as Record<string, string>, body: Buffer.concat(chunks) }))
        res.on('error', (e) => finish({ status: 0, headers: {}, body: new Uint8Array(0), error: e.message }))
      })
    } catch (e) {
      // Node refuses to send this path or header: send the bytes raw instead.
      sendRaw(port, rawRequest(r.method, r.path, r.headers ?? {}, r.body)).then(finish)
      return
    }
    req.on('error', (e) => finish({ status: 0, headers: {}, body: new Uint8Array(0), error: e.message }))
    req.setTimeout(60_000, () => req.destroy(new Error('no answer in 60 s')))
    if (r.body === undefined) req.end()
    else if (r.chunked) {
      const third = Math.ceil(r.body.length / 3)
      req.write(r.body.subarray(0, third))
      req.write(r.body.subarray(third, 2 * third))
      req.end(r.body.subarray(2 * third))
    } else req.end(r.body)
  })
}

/** Returns the bytes of an HTTP/1.1 request with `Connection: close`, the path as given (latin1 for code points below 256, UTF-8 beyond). */
function rawRequest(method: string, path: string, headers: Record<string, string>, body?: Uint8Array, contentLength?: number): Uint8Array {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close']
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`)
  if (body !== undefined || contentLength !== undefined) lines.push(`Content-Length: ${contentLength ?? body!.length}`)
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', /[^\u0000-\u00ff]/.test(lines.join('')) ? 'utf8' : 'latin1')
  return body === undefined ? head : Buffer.concat([head, body])
}

function sendRaw(port: number, bytes: Uint8Array, halfClose = false): Promise<Res> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    const chunks: Buffer[] = []
    let size = 0
    const timer = setTimeout(() => s.destroy(), 60_000)
    s.on('connect', () => {
      s.write(bytes)
      if (halfClose) s.end()
    })
    s.on('data', (c: Buffer) => {
      size += c.length
      if (size <= MAX_ANSWER) chunks.push(c)
      // One answer is all we wait for: stop once it is complete.
      const parsed = parseRawResponse(Buffer.concat(chunks), false)
      if (parsed !== undefined) s.destroy()
    })
    s.on('error', () => {})
    s.on('close', () => {
      clearTimeout(timer)
      resolve(parseRawResponse(Buffer.concat(chunks), true) ?? { status: 0, headers: {}, body: new Uint8Array(0) })
    })
  })
}

/** Returns the first response in `buf`, or undefined when it is not complete yet (or, at the end, not there). */
function parseRawResponse(buf: Buffer, atEnd: boolean): Res | undefined {
  const end = buf.indexOf('\r\n\r\n')
  if (end < 0) return undefined
  const head = buf.subarray(0, end).toString('latin1').split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(head[0]!)
  if (m === null) return atEnd ? { status: -1, headers: {}, body: buf } : undefined
  const headers: Record<string, string> = {}
  for (const l of head.slice(1)) {
    const i = l.indexOf(':')
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim()
  }
  let rest = buf.subarray(end + 4)
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length'])
    if (rest.length < n) return atEnd ? { status: Number(m[1]), headers, body: rest } : undefined
    return { status: Number(m[1]), headers, body: rest.subarray(0, n) }
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const out: Buffer[] = []
    for (;;) {
      const nl = rest.indexOf('\r\n')
      if (nl < 0) return atEnd ? { status: Number(m[1]), headers, body: Buffer.concat(out) } : undefined
      const n = parseInt(rest.subarray(0, nl).toString('latin1'), 16)
      if (n === 0) return { status: Number(m[1]), headers, body: Buffer.concat(out) }
      if (rest.length < nl + 2 + n + 2) return atEnd ? { status: Number(m[1]), headers, body: Buffer.concat(out) } : undefined
      out.push(rest.subarray(nl + 2, nl + 2 + n))
      rest = rest.subarray(nl + 2 + n + 2)
    }
  }
  return atEnd || headers.connection === 'close' ? { status: Number(m[1]), headers, body: rest } : undefined
}

// ---------------------------------------------------------------- mutations

type Rand = () => number

function randomBytes(rand: Rand, n: number): Uint8Array {
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = Math.floor(rand() * 256)
  return b
}

function pick<T>(rand: Rand, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!
}

/** Returns a mutation of `b`: bit flips, byte edits, inserts, deletes, truncation, extension, splices. */
function mutateBytes(rand: Rand, b: Uint8Array, other?: Uint8Array): Uint8Array {
  const out = Array.from(b)
  const rounds = 1 + Math.floor(rand() * 4)
  for (let r = 0; r < rounds; r++) {
    const at = out.length === 0 ? 0 : Math.floor(rand() * out.length)
    switch (Math.floor(rand() * 9)) {
      case 0:
        if (out.length > 0) out[at] = out[at]! ^ (1 << Math.floor(rand() * 8))
        break
      case 1:
        if (out.length > 0) out[at] = Math.floor(rand() * 256)
        break
      case 2:
        out.splice(at, 0, ...randomBytes(rand, 1 + Math.floor(rand() * 16)))
        break
      case 3:
        out.splice(at, 1 + Math.floor(rand() * 16))
        break
      case 4:
        out.length = at
        break
      case 5:
        out.push(...randomBytes(rand, 1 + Math.floor(rand() * 64)))
        break
      case 6:
        if (other !== undefined) return Uint8Array.from([...out.slice(0, at), ...Array.from(other.subarray(Math.floor(rand() * other.length)))])
        break
      case 7: {
        // A CBOR head with an extreme argument where a small one was.
        const heads = [0x1b, 0x3b, 0x5b, 0x7b, 0x9b, 0xbb, 0xdb, 0x5f, 0x9f, 0xbf, 0xfb, 0xf7, 0xff]
        out.splice(at, 1, pick(rand, heads), ...(rand() < 0.5 ? [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff] : [0, 0, 0, 0, 0, 0, 0, 1]))
        break
      }
      default: {
        const len = Math.floor(rand() * 32)
        const from = Math.floor(rand() * Math.max(1, out.length - len))
        out.splice(at, 0, ...out.slice(from, from + len))
      }
    }
  }
  return Uint8Array.from(out)
}

/** Returns a CBOR item nested `depth` deep: arrays, maps, tags or tag 18. */
function deepCbor(rand: Rand, depth: number): Uint8Array {
  const open = pick(rand, [[0x81], [0xa1, 0x01], [0xd2], [0xd8, 0x12], [0x9f]])
  const out = new Uint8Array(depth * open.length + 1)
  for (let i = 0; i < depth; i++) out.set(open, i * open.length)
  out[out.length - 1] = 0x00
  return out
}

function mutateText(rand: Rand, text: string): string {
  let lines = text.split('\n')
  const rounds = 1 + Math.floor(rand() * 3)
  for (let r = 0; r < rounds; r++) {
    const i = Math.floor(rand() * lines.length)
    switch (Math.floor(rand() * 12)) {
      case 0:
        lines.splice(i, 1)
        break
      case 1:
        lines.splice(i, 0, lines[i] ?? '')
        break
      case 2: {
        const j = Math.floor(rand() * lines.length)
        ;[lines[i], lines[j]] = [lines[j]!, lines[i]!]
        break
      }
      case 3:
        lines[i] = (lines[i] ?? '').replace(/\d+/, () => pick(rand, ['0', '00', '01', '-1', '1e3', '18446744073709551616', '9007199254740993', '99999999999999999999999', '١٢', ' 1', '0x10', String(randInt(rand, 0, 1000))]))
        break
      case 4: {
        const l = lines[i] ?? ''
        const k = Math.floor(rand() * Math.max(1, l.length))
        lines[i] = l.slice(0, k) + pick(rand, ['A', '/', '+', '=', '\r', '\t', ' ', '\u0000', '\u2014', '\ud800', 'é', '—']) + l.slice(k + 1)
        break
      }
      case 5:
        lines[i] = (lines[i] ?? '') + '\r'
        break
      case 6:
        lines[i] = 'x'.repeat(randInt(rand, 1, 70_000))
        break
      case 7:
        // Many proof lines.
        lines.splice(1, 0, ...Array.from({ length: randInt(rand, 60, 70) }, () => lines[1] ?? 'AAAA'))
        break
      case 8:
        lines = lines.slice(0, i)
        break
      case 9:
        lines.splice(i, 0, `— ${pick(rand, ['w1.reliability.example', 'reliability.actlog.example/log', 'x'])} ${Buffer.from(randomBytes(rand, randInt(rand, 0, 80))).toString('base64')}`)
        break
      case 10:
        lines[i] = `old ${pick(rand, ['0', '1', '18446744073709551615', '9007199254740992', '-0', '+1'])}`
        break
      default:
        lines.splice(i, 0, '')
    }
  }
  return lines.join('\n')
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'FOO']
const HUGE = ['9007199254740991', '9007199254740992', '18446744073709551615', '18446744073709551616', '99999999999999999999999999999999', '1e308', '-1', '-0', '0x1f', '00', '007', '1.5', 'NaN', 'Infinity', '%31', '１', '١', ' 1', '1 ', '']

// ---------------------------------------------------------------- the run

interface Material {
  statements: Uint8Array[]
  treeSize: number
  /** Real add-checkpoint bodies: old sizes with their consistency proofs to the witness's checkpoint, and older checkpoints. */
  witnessBodies: string[]
}

/** Returns a request generator over the real material. Each kind has a weight. */
function generators(m: Material): { kind: string; weight: number; make: (rand: Rand) => Req }[] {
  const stmt = (rand: Rand): Uint8Array => pick(rand, m.statements)
  const tileIndex = (rand: Rand): string => pick(rand, ['000', '001', 'x001/000', 'x000/001', '000.p/1', '000.p/255', '000.p/256', '000.p/0', '001.p/' + randInt(rand, 1, 300), 'x999/x999/x999/x999/x999/999', 'x9007199254740991/000', '000.p/-1', '000.p/01', '000.p', '.p/1', '000/', '00', '0000', 'abc', '%30%30%30', '000%2Ep%2F1'])
  const cose = { 'content-type': 'application/cose' }
  return [
    { kind: 'log: mutated statement', weight: 18, make: (r) => ({ kind: '', to: 'log', method: 'POST', path: '/add', headers: cose, body: mutateBytes(r, stmt(r), stmt(r)) }) },
    { kind: 'log: random body', weight: 4, make: (r) => ({ kind: '', to: 'log', method: 'POST', path: '/add', headers: cose, body: randomBytes(r, randInt(r, 0, 20_000)) }) },
    { kind: 'log: deep CBOR', weight: 2, make: (r) => ({ kind: '', to: 'log', method: 'POST', path: pick(r, ['/add', '/add-batch']), headers: { 'content-type': pick(r, ['application/cose', 'application/cbor']) }, body: deepCbor(r, randInt(r, 17, MAX_ENTRY_SIZE - 2)) }) },
    { kind: 'log: deep CBOR, 4 MiB', weight: 0.05, make: (r) => ({ kind: '', to: 'log', method: 'POST', path: '/add-batch', headers: { 'content-type': 'application/cbor' }, body: deepCbor(r, 4 * 1024 * 1024 - 1) }) },
    { kind: 'log: duplicate statement', weight: 3, make: (r) => ({ kind: '', to: 'log', method: 'POST', path: pick(r, ['/add', '/add?wait=witnessed', '/add?wait=', '/add?wait=witnessed&wait=x']), headers: { ...cose, ...(r() < 0.3 ? { accept: 'application/cbor' } : {}) }, body: stmt(r) }) },
    {
      kind: 'log: wrong content type',
      weight: 3,
      make: (r) => ({ kind: '', to: 'log', method: 'POST', path: pick(r, ['/add', '/add-batch']), headers: r() < 0.15 ? {} : { 'content-type': pick(r, ['text/plain', 'application/json', 'application/cbor', 'application/cose', 'application/cose+cbor', 'multipart/form-data; boundary=x', 'APPLICATION/COSE', 'application/cose; charset=utf-8', ';', '', 'application/x-www-form-urlencoded']) }, body: r() < 0.5 ? stmt(r) : randomBytes(r, 40) }),
    },
    { kind: 'log: oversized body', weight: 1, make: (r) => ({ kind: '', to: 'log', method: 'POST', path: pick(r, ['/add', '/add-batch']), headers: { 'content-type': pick(r, ['application/cose', 'application/cbor']) }, body: randomBytes(r, pick(r, [MAX_ENTRY_SIZE + 1, 100_000, 4 * 1024 * 1024 + 1])), chunked: r() < 0.5 }) },
    { kind: 'log: chunked body', weight: 2, make: (r) => ({ kind: '', to: 'log', method: 'POST', path: '/add', headers: cose, body: r() < 0.5 ? stmt(r) : mutateBytes(r, stmt(r)), chunked: true }) },
    {
      kind: 'log: mutated batch',
      weight: 4,
      make: (r) => {
        const items: unknown[] = Array.from({ length: randInt(r, 1, 8) }, () => (r() < 0.5 ? stmt(r) : mutateBytes(r, stmt(r))))
        if (r() < 0.2) items.push(pick(r, [1, 'text', [stmt(r)], new Map([[1, 2]])]))
        let body = encodeCbor(items as never)
        if (r() < 0.5) body = mutateBytes(r, body)
        return { kind: '', to: 'log', method: 'POST', path: '/add-batch', headers: { 'content-type': 'application/cbor', ...(r() < 0.3 ? { accept: 'application/cbor' } : {}) }, body }
      },
    },
    { kind: 'log: batch of 1,025', weight: 0.05, make: (r) => ({ kind: '', to: 'log', method: 'POST', path: '/add-batch', headers: { 'content-type': 'application/cbor' }, body: encodeCbor(Array.from({ length: 1025 }, () => stmt(r))) }) },
    { kind: 'log: batch of duplicates', weight: 0.2, make: (r) => ({ kind: '', to: 'log', method: 'POST', path: '/add-batch', headers: { 'content-type': 'application/cbor' }, body: encodeCbor(Array.from({ length: randInt(r, 1, 64) }, () => stmt(r))) }) },
    { kind: 'log: tile path', weight: 10, make: (r) => ({ kind: '', to: 'log', method: 'GET', path: `/tile/${pick(r, ['0', '1', '2', '63', '64', 'entries', '00', '-1', '9999999999', 'ENTRIES', '0/../entries', '.', '..', '%30', '０'])}/${tileIndex(r)}`, headers: r() < 0.3 ? { 'accept-encoding': 'gzip' } : {} }) },
    { kind: 'log: proof path', weight: 8, make: (r) => ({ kind: '', to: 'log', method: 'GET', path: `/proof/${pick(r, [...HUGE, String(randInt(r, 0, m.treeSize + 5))])}${pick(r, ['', `?size=${pick(r, HUGE)}`, `?size=${randInt(r, 0, m.treeSize + 2)}`, '?size=1&size=2', '?wait=witnessed', `?size=${m.treeSize}&wait=witnessed`, '?size', '?=', '?size=%00', '?%zz'])}` }) },
    {
      kind: 'log: odd path',
      weight: 8,
      make: (r) => ({
        kind: '',
        to: 'log',
        method: pick(r, ['GET', 'GET', 'POST', 'HEAD']),
        path: pick(r, ['//checkpoint', '/checkpoint/', '/./checkpoint', '/tile/../checkpoint', '/%63heckpoint', '/CHECKPOINT', '/checkpoint?x=' + 'y'.repeat(randInt(r, 1, 2000)), '/checkpoint%00', '/checkpoint;x', '/checkpoint#frag', '/' + 'a/'.repeat(randInt(r, 1, 2000)), '/tile/0/' + 'x001/'.repeat(randInt(r, 1, 300)) + '000', '/proof/%2e%2e/%2e%2e/etc/passwd', '/healthz?' + '&'.repeat(500), '/metrics/', '/add/', '/add%2Fbatch', '/add-batch/', '/ádd', '/checkpoint/..%2f..%2f', '/%ff%fe', '/%', '/%zz', '/?', '*']),
      }),
    },
    { kind: 'log: wrong method', weight: 5, make: (r) => ({ kind: '', to: 'log', method: pick(r, METHODS), path: pick(r, ['/add', '/add-batch', '/checkpoint', '/tile/0/000', '/tile/entries/000', '/proof/0', '/metrics', '/healthz', '/']), ...(r() < 0.3 ? { body: randomBytes(r, 30), headers: cose } : {}) }) },
    { kind: 'log: read', weight: 4, make: (r) => ({ kind: '', to: 'log', method: 'GET', path: pick(r, ['/checkpoint', '/healthz', '/metrics', '/tile/0/000', '/tile/entries/000', `/proof/${randInt(r, 0, m.treeSize - 1)}`, '/tile/1/000.p/1']) }) },
    {
      kind: 'log: raw bytes',
      weight: 3,
      make: (r) => ({
        kind: '',
        to: 'log',
        method: 'GET',
        path: '',
        raw: pick(r, [
          () => rawRequest('GET', `/tile/0/${'０'.repeat(randInt(r, 1, 50))}`, {}),
          () => rawRequest('GET', `/checkpoint\u00ff\u00fe`, {}),
          () => rawRequest('GET', `/${'é'.repeat(randInt(r, 1, 3000))}`, {}),
          () => rawRequest('GET', '/' + 'x'.repeat(randInt(r, 16_000, 70_000)), {}),
          () => rawRequest('POST', '/add', { 'Content-Type': 'application/cose', 'Transfer-Encoding': 'chunked' }, stmt(r)),
          () => rawRequest('POST', '/add', { 'Content-Type': 'application/cose' }, stmt(r), randInt(r, 0, 5)),
          () => rawRequest('GET', '/checkpoint', { 'X-Big': 'h'.repeat(randInt(r, 17_000, 40_000)) }),
          () => rawRequest('GET', '/checkpoint', { 'Bad Header': 'x' }),
          () => Buffer.concat([Buffer.from('POST /add HTTP/1.1\r\nHost: x\r\nContent-Type: application/cose\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'), Buffer.from(randomBytes(r, 20))]),
          () => randomBytes(r, randInt(r, 1, 2000)),
          () => Buffer.from(`${pick(r, ['GET', 'G E T', 'get', ''])} ${pick(r, ['/', '', 'checkpoint', 'http://evil/checkpoint', '/checkpoint HTTP/9.9'])} HTTP/1.1\r\n\r\n`),
          () => Buffer.from('GET /checkpoint HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx'),
          () => Buffer.from('CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n'),
        ])(),
      }),
    },
    {
      kind: 'witness: truncated body',
      weight: 1,
      make: (r) => {
        const b = Buffer.from(pick(r, m.witnessBodies))
        return { kind: '', to: 'witness', method: 'POST', path: '/add-checkpoint', raw: rawRequest('POST', '/add-checkpoint', {}, b.subarray(0, randInt(r, 0, b.length - 1)), b.length), halfClose: true }
      },
    },
    {
      kind: 'log: truncated body',
      weight: 2,
      make: (r) => {
        const e = stmt(r)
        const cut = randInt(r, 0, e.length - 1)
        return { kind: '', to: 'log', method: 'POST', path: '/add', raw: rawRequest('POST', pick(r, ['/add', '/add-batch']), { 'Content-Type': 'application/cose' }, e.subarray(0, cut), e.length), halfClose: true }
      },
    },
    // ---- the witness
    { kind: 'witness: mutated add-checkpoint', weight: 14, make: (r) => ({ kind: '', to: 'witness', method: 'POST', path: '/add-checkpoint', body: Buffer.from(mutateText(r, pick(r, m.witnessBodies)), 'utf8') }) },
    { kind: 'witness: mutated add-checkpoint bytes', weight: 3, make: (r) => ({ kind: '', to: 'witness', method: 'POST', path: '/add-checkpoint', body: mutateBytes(r, Buffer.from(pick(r, m.witnessBodies))) }) },
    { kind: 'witness: real add-checkpoint', weight: 2, make: (r) => ({ kind: '', to: 'witness', method: 'POST', path: '/add-checkpoint', headers: { 'content-type': pick(r, ['text/plain', 'application/json', 'x/y']) }, body: Buffer.from(pick(r, m.witnessBodies)) }) },
    { kind: 'witness: random body', weight: 2, make: (r) => ({ kind: '', to: 'witness', method: 'POST', path: '/add-checkpoint', body: randomBytes(r, randInt(r, 0, 5000)), chunked: r() < 0.3 }) },
    { kind: 'witness: oversized body', weight: 0.5, make: (r) => ({ kind: '', to: 'witness', method: 'POST', path: '/add-checkpoint', body: Buffer.from('old 0\n\n' + 'x'.repeat(MAX_ADD_CHECKPOINT_BODY)), chunked: r() < 0.5 }) },
    {
      kind: 'witness: monitoring path',
      weight: 4,
      make: (r) => ({ kind: '', to: 'witness', method: pick(r, ['GET', 'GET', 'HEAD', 'POST', 'DELETE']), path: pick(r, [MONITOR_PATH, MONITOR_PATH.toUpperCase(), MONITOR_PATH.replace('/checkpoint', '/checkpoint/'), '/' + '0'.repeat(64) + '/checkpoint', '/' + 'g'.repeat(64) + '/checkpoint', MONITOR_PATH.slice(0, 20) + '/checkpoint', '/%' + MONITOR_PATH.slice(2), '//' + MONITOR_PATH, MONITOR_PATH.replace('/checkpoint', '/../checkpoint'), '/checkpoint', '/add-checkpoint/', '/add-checkpoint?x', '/metrics', '/healthz', '/ádd-checkpoint', '/' + 'f'.repeat(10_000) + '/checkpoint']) }),
    },
    { kind: 'witness: wrong method', weight: 2, make: (r) => ({ kind: '', to: 'witness', method: pick(r, METHODS), path: pick(r, ['/add-checkpoint', MONITOR_PATH, '/metrics', '/healthz']) }) },
    {
      kind: 'witness: raw bytes',
      weight: 1,
      make: (r) => ({
        kind: '',
        to: 'witness',
        method: 'POST',
        path: '',
        raw: pick(r, [
          () => randomBytes(r, randInt(r, 1, 500)),
          () => rawRequest('GET', `/${'ü'.repeat(32)}/checkpoint`, {}),
          () => rawRequest('POST', '/add-checkpoint', { 'X-Big': 'h'.repeat(20_000) }, Buffer.from('old 0\n')),
          () => rawRequest('POST', '/add-checkpoint', { 'Transfer-Encoding': 'chunked' }, Buffer.from('5\r\nold 0\r\nzz\r\n')),
        ])(),
        halfClose: r() < 0.3,
      }),
    },
  ]
}

/** Returns a violation message for a log answer, or undefined. */
function checkLogAnswer(req: Req, res: Res): string | 'parser' | undefined {
  if (res.status === 0) return undefined
  if (res.status === -1) return `an answer that is not HTTP: ${Buffer.from(res.body).toString('latin1').slice(0, 80)}`
  if (res.status >= 500 && res.status !== 503) return `${res.status} for ${req.method} ${req.path.slice(0, 80)}: ${Buffer.from(res.body).toString().slice(0, 200)}`
  if (res.status === 503 && res.headers['retry-after'] === undefined) return `503 without Retry-After for ${req.method} ${req.path.slice(0, 80)}`
  if (res.status < 400) return undefined
  const type = res.headers['content-type']
  if (type === undefined && res.body.length === 0 && [400, 408, 413, 414, 431, 505].includes(res.status) && res.headers['actlog-error'] === undefined) return 'parser'
  if (req.method === 'HEAD') return undefined
  if (!/^application\/json/.test(type ?? '')) return `${res.status} with content type ${type} for ${req.method} ${req.path.slice(0, 80)}`
  try {
    const o = JSON.parse(Buffer.from(res.body).toString()) as Record<string, unknown>
    const keys = Object.keys(o).sort().join(',')
    if (keys !== 'code,message' || typeof o.code !== 'string' || typeof o.message !== 'string' || o.message.length === 0) return `error body ${JSON.stringify(o).slice(0, 120)}`
    if (!(TLOG_ERROR_CODES as readonly string[]).includes(o.code)) return `unknown error code ${o.code}`
  } catch {
    return `${res.status} with a body that is not JSON for ${req.method} ${req.path.slice(0, 80)}`
  }
  return undefined
}

function checkWitnessAnswer(req: Req, res: Res): string | 'parser' | undefined {
  if (res.status === 0) return undefined
  if (res.status === -1) return `an answer that is not HTTP: ${Buffer.from(res.body).toString('latin1').slice(0, 80)}`
  if (res.status >= 500 && res.status !== 503) return `${res.status} for ${req.method} ${req.path.slice(0, 80)}: ${Buffer.from(res.body).toString().slice(0, 200)}`
  if (res.status === 503 && res.headers['retry-after'] === undefined) return '503 without Retry-After'
  if (res.status < 400) return undefined
  const type = res.headers['content-type']
  if (type === undefined && res.body.length === 0 && [400, 408, 413, 414, 431, 505].includes(res.status) && res.headers['actlog-error'] === undefined) return 'parser'
  if (req.method === 'HEAD') return undefined
  if (res.status === 409) {
    if (type !== 'text/x.tlog.size' || !/^(0|[1-9][0-9]*)\n$/.test(Buffer.from(res.body).toString())) return `409 with ${type}: ${Buffer.from(res.body).toString().slice(0, 40)}`
    return undefined
  }
  if (!/^text\/plain/.test(type ?? '') || res.body.length < 5 || res.body[res.body.length - 1] !== 0x0a) return `${res.status} with ${type} for ${req.method} ${req.path.slice(0, 60)}: ${Buffer.from(res.body).toString().slice(0, 80)}`
  return undefined
}

/** Runs the hostile campaign and returns its figures. Throws only when the setup fails. */
export async function runHostile(opts: HostileOptions = {}): Promise<HostileSummary> {
  const total = opts.requests ?? 1_000_000
  const seed = opts.seed ?? 1
  const say = opts.log ?? (() => {})
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'actlog-hostile-'))
  // A log that publishes its own checkpoints, and a witness of it.
  const net = await writeNetwork(dir, { witnesses: 1, witnessedLog: false, batch: { maxEntries: 256, maxDelayMs: 5 } })
  const w = await startWitness(net, 0)
  const log = await startLog(net)
  const s: HostileSummary = {
    seed,
    requests: 0,
    seconds: 0,
    perSecond: 0,
    byKind: {},
    slowest: {},
    byStatus: { log: {}, witness: {} },
    parserAnswers: 0,
    crashes: 0,
    violations: 0,
    samples: [],
    stateUnchanged: true,
    rss: { log: { before: 0, peak: 0, after: 0 }, witness: { before: 0, peak: 0, after: 0 } },
    slow: { opened: 0, cutOff: 0, earliestMs: 0, latestMs: 0, healthzMsWhileHeld: 0 },
    witnessEvidence: 0,
  }
  const violation = (what: string): void => {
    s.violations++
    if (s.samples.length < 50) s.samples.push(what)
    if (s.violations <= 20) say(`VIOLATION: ${what}`)
  }
  try {
    const m = await prepare(net, say)
    // ---------------------------------------------------- the state that must not change
    const state = async (): Promise<string> => {
      const cp = await (await fetch(`${net.logUrl}/checkpoint`)).text()
      const h = (await (await fetch(`${net.logUrl}/healthz`)).json()) as { treeSize: number }
      const wcp = await (await fetch(`${net.witnessUrls[0]}${MONITOR_PATH}`)).text()
      return JSON.stringify({ cp, size: h.treeSize, wcp })
    }
    const before = await state()
    s.rss.log.before = rssOf(log.pid) ?? 0
    s.rss.witness.before = rssOf(w.pid) ?? 0
    say(`log holds ${m.treeSize} entries; RSS before: log ${mb(s.rss.log.before)}, witness ${mb(s.rss.witness.before)}`)

    // ---------------------------------------------------- slow senders
    const slow = slowSenders(net, opts.slowSenders ?? 200)
    s.slow.opened = slow.opened
    await sleep(300)
    const t = performance.now()
    const hz = await fetch(`${net.logUrl}/healthz`, { signal: AbortSignal.timeout(10_000) })
    s.slow.healthzMsWhileHeld = Math.round(performance.now() - t)
    if (hz.status !== 200) violation(`/healthz answered ${hz.status} while slow senders were held`)

    // ---------------------------------------------------- the flood
    let stop = false
    const watcher = (async () => {
      while (!stop) {
        for (const [name, c, f] of [['log', log, s.rss.log], ['witness', w, s.rss.witness]] as const) {
          if (c.proc.exitCode !== null || c.proc.signalCode !== null) {
            if (!stop) violation(`the ${name} process exited (${c.proc.exitCode ?? c.proc.signalCode})`)
            s.crashes++
            stop = true
          }
          f.peak = Math.max(f.peak, rssOf(c.pid) ?? 0)
        }
        try {
          const now = await state()
          if (now !== before) {
            s.stateUnchanged = false
            violation(`stored state changed during the flood: ${now.slice(0, 300)}`)
            stop = true
          }
        } catch (e) {
          violation(`reading the state failed: ${String(e)}`)
        }
        await sleep(1000)
      }
    })()
    const gens = generators(m)
    const weights = gens.reduce((n, g) => n + g.weight, 0)
    const agents = { log: new http.Agent({ keepAlive: true, maxSockets: 1024 }), witness: new http.Agent({ keepAlive: true, maxSockets: 1024 }) }
    const ports = { log: net.logPort, witness: net.witnessPorts[0]! }
    let sent = 0
    const started = performance.now()
    let lastReport = started
    const worker = async (k: number): Promise<void> => {
      const rand = seededRandom(seed * 1000 + k)
      while (!stop && sent < total) {
        sent++
        let x = rand() * weights
        let g = gens[0]!
        for (const c of gens) {
          x -= c.weight
          if (x < 0) {
            g = c
            break
          }
        }
        const req = g.make(rand)
        req.kind = g.kind
        s.byKind[g.kind] = (s.byKind[g.kind] ?? 0) + 1
        const t0 = performance.now()
        const res = req.raw !== undefined ? await sendRaw(ports[req.to], req.raw, req.halfClose) : await sendHttp(agents[req.to], ports[req.to], req)
        const ms = performance.now() - t0
        if (ms > (s.slowest[g.kind] ?? 0)) s.slowest[g.kind] = Math.round(ms)
        const by = s.byStatus[req.to]
        const key = res.status === 0 ? 'none' : String(res.status)
        by[key] = (by[key] ?? 0) + 1
        const v = req.to === 'log' ? checkLogAnswer(req, res) : checkWitnessAnswer(req, res)
        if (v === 'parser') s.parserAnswers++
        else if (v !== undefined) violation(`${g.kind}: ${v}`)
        if (k === 0 && performance.now() - lastReport > 10_000) {
          lastReport = performance.now()
          const secs = (lastReport - started) / 1000
          say(`${sent} requests in ${secs.toFixed(0)} s (${Math.round(sent / secs)}/s); RSS log ${mb(rssOf(log.pid) ?? 0)}, witness ${mb(rssOf(w.pid) ?? 0)}; violations ${s.violations}`)
        }
      }
    }
    await Promise.all(Array.from({ length: opts.concurrency ?? 48 }, (_, k) => worker(k)))
    s.requests = sent
    s.seconds = Math.round((performance.now() - started) / 100) / 10
    s.perSecond = Math.round(sent / s.seconds)
    agents.log.destroy()
    agents.witness.destroy()

    // ---------------------------------------------------- slow senders cut off, state, memory
    if (opts.waitForSlow !== false) {
      const cut = await slow.done
      s.slow.cutOff = cut.cutOff
      s.slow.earliestMs = cut.earliestMs
      s.slow.latestMs = cut.latestMs
      if (cut.cutOff !== slow.opened) violation(`only ${cut.cutOff} of ${slow.opened} slow senders were cut off by the server`)
    } else slow.abort()
    stop = true
    await watcher
    await sleep(1000)
    for (const [name, c] of [['log', log], ['witness', w]] as const) {
      const res = await fetch(`${name === 'log' ? net.logUrl : net.witnessUrls[0]}/healthz`).catch(() => undefined)
      if (res?.status !== 200) violation(`the ${name} is not healthy after the flood`)
      if (c.proc.exitCode !== null) s.crashes++
    }
    const after = await state()
    if (after !== before) {
      s.stateUnchanged = false
      violation('stored state changed by the flood')
    }
    s.rss.log.after = rssOf(log.pid) ?? 0
    s.rss.witness.after = rssOf(w.pid) ?? 0
    const metrics = await (await fetch(`${net.witnessUrls[0]}/metrics`)).text()
    s.witnessEvidence = Number(/^actlog_witness_evidence_total\{[^}]*\} (\d+)/m.exec(metrics)?.[1] ?? 0)
  } finally {
    await log.kill9()
    await w.kill9()
    if (opts.dir === undefined && opts.keep !== true) rmSync(dir, { recursive: true, force: true })
  }
  return s
}

function mb(n: number): string {
  return `${(n / 1024 / 1024).toFixed(0)} MB`
}

/** Seeds the log with 300 real statements (across a tile boundary), has the witness cosign it, and collects real bodies to mutate. */
async function prepare(net: Network, say: (l: string) => void): Promise<Material> {
  const actor = new Actor('hostile')
  const r = await submitLoad(net.logUrl, actor, { concurrency: 16, count: 300 })
  if (r.acked.size !== 300) throw new Error(`seeding the log failed: ${JSON.stringify(r.statuses)} ${JSON.stringify(r.samples)}`)
  const statements = [...r.acked.values()]
  const health = (await (await fetch(`${net.logUrl}/healthz`)).json()) as { treeSize: number }
  const n = health.treeSize
  const tiles = new TileClient(net.logUrl)
  const checkpointAt = async (size: number): Promise<string> => parseTlogProof(await (await fetch(`${net.logUrl}/proof/0?size=${size}`)).text()).checkpoint
  const top = await checkpointAt(n)
  // The witness cosigns the log's checkpoint once; everything after is hostile.
  const first = await fetch(`${net.witnessUrls[0]}/add-checkpoint`, { method: 'POST', body: encodeAddCheckpointRequest({ oldSize: 0, proof: [], checkpoint: top }) })
  if (first.status !== 200) throw new Error(`the witness did not cosign: ${first.status} ${await first.text()}`)
  const bodies: string[] = [encodeAddCheckpointRequest({ oldSize: n, proof: [], checkpoint: top })]
  for (const old of [1, 7, 100, 255, 256, 257, n - 1]) {
    const proof = await consistencyProof(old, n, tiles.hashReader(n))
    bodies.push(encodeAddCheckpointRequest({ oldSize: old, proof, checkpoint: top }))
    // An older checkpoint, as a rollback attempt would send it.
    bodies.push(encodeAddCheckpointRequest({ oldSize: 0, proof: [], checkpoint: await checkpointAt(old) }))
  }
  say(`seeded: ${n} entries, the witness cosigned ${parseCheckpoint(parseNote(top).text).treeSize}; ${bodies.length} real add-checkpoint bodies to mutate`)
  return { statements, treeSize: n, witnessBodies: bodies }
}

/**
 * Opens `count` connections to each server that send slowly: partial
 * headers then nothing, complete headers and part of a body then nothing,
 * or a body trickled a byte a second. Resolves `done` once the servers have
 * closed them all (or after 120 s).
 */
function slowSenders(net: Network, count: number): { opened: number; done: Promise<{ cutOff: number; earliestMs: number; latestMs: number }>; abort: () => void } {
  const started = Date.now()
  const closes: Promise<number | undefined>[] = []
  const sockets: import('node:net').Socket[] = []
  const ports = [net.logPort, net.witnessPorts[0]!]
  for (let i = 0; i < count; i++) {
    const port = ports[i % 2]!
    const s = connect(port, '127.0.0.1')
    sockets.push(s)
    let timer: ReturnType<typeof setInterval> | undefined
    closes.push(
      new Promise((resolve) => {
        s.on('error', () => {})
        // Read what the server says (its 408), or the socket never sees the server close it.
        s.on('data', () => {})
        s.on('close', () => {
          if (timer !== undefined) clearInterval(timer)
          resolve(s.destroyed && !aborted ? Date.now() - started : undefined)
        })
      }),
    )
    s.on('connect', () => {
      const path = port === net.logPort ? '/add' : '/add-checkpoint'
      switch (i % 4) {
        case 0:
          s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-`)
          break
        case 1:
          s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/cose\r\nContent-Length: 10000\r\n\r\n${'\u00a0'.repeat(10)}`)
          break
        case 2:
          s.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/cose\r\nContent-Length: 10000\r\n\r\n`)
          timer = setInterval(() => s.write('x'), 1000)
          break
        default: {
          // Headers a byte a second, without end.
          const head = `POST ${path} HTTP/1.1\r\nHost: x\r\nX-Slow: `
          let k = 0
          timer = setInterval(() => s.write(head.charAt(k++) || 'x'), 1000)
        }
      }
    })
  }
  let aborted = false
  let giveUp: ReturnType<typeof setTimeout> | undefined
  const cut: number[] = []
  for (const c of closes) void c.then((t) => t !== undefined && cut.push(t))
  const limit = new Promise<void>((resolve) => (giveUp = setTimeout(resolve, 120_000)))
  const done = Promise.race([Promise.all(closes), limit]).then(() => {
    clearTimeout(giveUp)
    for (const s of sockets) s.destroy()
    return { cutOff: cut.length, earliestMs: cut.length > 0 ? Math.min(...cut) : 0, latestMs: cut.length > 0 ? Math.max(...cut) : 0 }
  })
  return {
    opened: count,
    done,
    abort: () => {
      aborted = true
      clearTimeout(giveUp)
      for (const s of sockets) s.destroy()
    },
  }
}

/** Returns whether the run kept every promise. */
export function hostilePassed(s: HostileSummary): boolean {
  return s.violations === 0 && s.crashes === 0 && s.stateUnchanged
}

/** Returns the summary as printed lines. */
export function formatHostile(s: HostileSummary): string {
  const statuses = (o: Record<string, number>): string =>
    Object.entries(o)
      .sort()
      .map(([k, v]) => `${k}: ${v}`)
      .join(', ')
  return [
    `hostile input (seed ${s.seed}): ${s.requests} requests in ${s.seconds} s (${s.perSecond}/s)`,
    `  log answers:      ${statuses(s.byStatus.log)}`,
    `  witness answers:  ${statuses(s.byStatus.witness)}`,
    `  answered by Node's HTTP parser (not HTTP): ${s.parserAnswers}`,
    `  crashes:          ${s.crashes}`,
    `  violations:       ${s.violations}`,
    `  state unchanged:  ${s.stateUnchanged}`,
    `  RSS log:          before ${mb(s.rss.log.before)}, peak ${mb(s.rss.log.peak)}, after ${mb(s.rss.log.after)}`,
    `  RSS witness:      before ${mb(s.rss.witness.before)}, peak ${mb(s.rss.witness.peak)}, after ${mb(s.rss.witness.after)}`,
    `  slow senders:     ${s.slow.cutOff} of ${s.slow.opened} cut off by the servers between ${(s.slow.earliestMs / 1000).toFixed(1)} s and ${(s.slow.latestMs / 1000).toFixed(1)} s; /healthz answered in ${s.slow.healthzMsWhileHeld} ms while they were held`,
    `  witness evidence kept: ${s.witnessEvidence}`,
    '  requests by kind:',
    ...Object.entries(s.byKind)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `    ${String(v).padStart(8)}  ${k} (slowest answer ${s.slowest[k] ?? 0} ms)`),
    ...(s.samples.length > 0 ? ['  violations:', ...s.samples.map((x) => `    ${x}`)] : []),
    hostilePassed(s) ? 'PASS' : 'FAIL',
  ].join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '1000000' },
      concurrency: { type: 'string', default: '48' },
      seed: { type: 'string', default: String(Date.now() % 1_000_000) },
      slow: { type: 'string', default: '200' },
      json: { type: 'boolean', default: false },
    },
  })
  const s = await runHostile({
    requests: Number(values.requests),
    concurrency: Number(values.concurrency),
    seed: Number(values.seed),
    slowSenders: Number(values.slow),
    log: (l) => console.log(l),
  })
  console.log(formatHostile(s))
  if (values.json) console.log(JSON.stringify(s))
  process.exitCode = hostilePassed(s) ? 0 : 1
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main()

