import { TILE_WIDTH, parseCheckpoint, parseNote, sha256, toBase64, toHex, utf8, type PolicyWitness } from '../core/index.ts'
import { verifyCheckpoint, type CheckpointVerdict, type Policy } from '../verify/index.ts'
import { age, h, isoTime, replace } from './dom.ts'
import type { LogClient, LoggedEntry } from './log-client.ts'
import { code } from './verdict-card.ts'

/** Entries per page of the newest-entries table. */
const PAGE = 20
/** Most entry bundles read for the activity chart (6,144 entries): a busy log's hour is summarised from its newest entries only, and the chart says so. */
const MAX_CHART_BUNDLES = 24
const HOUR_MS = 3_600_000

/**
 * Returns the Log view: the current checkpoint (size, root, age), each
 * policy witness with what it cosigned (so a lagging witness shows), the
 * entries per minute over the last hour, and the newest entries decoded,
 * paging back through the entry bundles (tiles) only.
 */
export function logView(client: LogClient, policy: Policy, page: number): HTMLElement {
  const section = h('section', { id: 'log', 'aria-labelledby': 'log-title' }, h('h2', { id: 'log-title' }, 'Log'), h('p', { role: 'status' }, 'Reading the log…'))
  void fill(section, client, policy, page).catch((e: unknown) => {
    replace(section, h('h2', { id: 'log-title' }, 'Log'), h('p', { class: 'error', role: 'alert' }, `Could not read the log: ${e instanceof Error ? e.message : String(e)}`))
  })
  return section
}

async function fill(section: HTMLElement, client: LogClient, policy: Policy, page: number): Promise<void> {
  const now = Date.now()
  const note = await client.checkpoint()
  const v = await verifyCheckpoint(note, { policy, now, requireQuorum: false })
  const cp = parseCheckpointText(note)
  const treeSize = cp.treeSize
  const witnessRows = await Promise.all([...policy.witnesses.values()].map((w) => witnessRow(w, policy, cp.origin, treeSize, v, now)))
  const newest = v.ok && v.witnesses.length > 0 ? Math.max(...v.witnesses.map((w) => w.timestamp)) * 1000 : undefined

  const checkpoint = h(
    'div',
    { class: 'panel', id: 'checkpoint' },
    h('h3', {}, 'Current checkpoint'),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Origin'),
      h('dd', {}, code(cp.origin)),
      h('dt', {}, 'Tree size'),
      h('dd', {}, h('strong', { id: 'tree-size', 'data-size': treeSize }, treeSize.toLocaleString('en'))),
      h('dt', {}, 'Root hash'),
      h('dd', {}, code(cp.rootHash, 'hash')),
      h('dt', {}, 'Age'),
      h('dd', {}, newest === undefined ? 'unknown (no verified cosignature carries a time)' : `${age(newest, now)} (newest cosignature, ${isoTime(newest)})`),
      h('dt', {}, 'Checked against the policy'),
      h(
        'dd',
        { class: v.ok ? 'ok' : 'bad' },
        v.ok ? (v.loggedBy !== undefined || policy.quorum === 'none' ? '✓ log signature and witness quorum verified' : '✗ log signature verified, but the witness quorum is NOT met') : `✗ ${v.reason}: ${v.message}`,
      ),
    ),
  )

  const witnesses = h(
    'div',
    { class: 'panel', id: 'witnesses' },
    h('h3', {}, 'Witnesses of the policy'),
    policy.witnesses.size === 0
      ? h('p', {}, 'The policy names no witnesses (quorum none).')
      : h(
          'div',
          { class: 'scroll' },
          h(
            'table',
            {},
            h('caption', {}, `quorum: ${policy.quorum}`),
            h('thead', {}, h('tr', {}, ...['Witness', 'Cosigned this checkpoint', 'Its latest cosigned size', 'Status'].map((t) => h('th', { scope: 'col' }, t)))),
            h('tbody', {}, ...witnessRows),
          ),
        ),
  )

  const chart = h('div', { class: 'panel', id: 'activity' }, h('h3', {}, 'Entries per minute, last hour'), h('p', {}, 'Reading entry bundles…'))
  const entries = h('div', { class: 'panel', id: 'entries' }, h('h3', {}, 'Newest entries'))
  replace(section, h('h2', { id: 'log-title' }, 'Log'), checkpoint, witnesses, chart, entries)
  await Promise.all([fillEntries(entries, client, treeSize, page), fillChart(chart, client, treeSize, now)])
}

/** Returns a witness's row: its cosignature on the log's checkpoint, and what its own monitoring endpoint says it last cosigned. */
async function witnessRow(w: PolicyWitness, policy: Policy, origin: string, treeSize: number, v: CheckpointVerdict, now: number): Promise<HTMLElement> {
  const here = v.ok ? v.witnesses.find((x) => x.name === w.name) : undefined
  let latest: { size: number; time?: number } | string = 'no URL in the policy'
  if (w.url !== undefined) {
    try {
      const res = await fetch(`${w.url.replace(/\/$/, '')}/${toHex(sha256(utf8(origin)))}/checkpoint`, { cache: 'no-store' })
      if (!res.ok) throw new Error(`answered ${res.status}`)
      const note = await res.text()
      const own = await verifyCheckpoint(note, { policy: onlyWitness(policy, w), now, requireQuorum: false })
      if (!own.ok) throw new Error(`its checkpoint does not verify: ${own.reason}`)
      const mine = own.witnesses.find((x) => x.name === w.name)
      latest = { size: parseCheckpointText(note).treeSize, ...(mine === undefined ? {} : { time: mine.timestamp * 1000 }) }
    } catch (e) {
      latest = `unreachable (${e instanceof Error ? e.message : String(e)})`
    }
  }
  let status: string
  if (typeof latest === 'string') status = here === undefined ? '✗ did not cosign, and cannot be asked' : 'cosigned; cannot be asked directly'
  else if (latest.size < treeSize) status = `✗ lags by ${(treeSize - latest.size).toLocaleString('en')} entries`
  else status = '✓ up to date'
  return h(
    'tr',
    { 'data-witness': w.name },
    h('th', { scope: 'row', class: 'witness' }, w.name, w.url === undefined ? '' : h('br'), w.url === undefined ? '' : h('span', { class: 'muted' }, w.url)),
    h('td', {}, here === undefined ? '✗ no' : `✓ at ${isoTime(here.timestamp * 1000)} (${age(here.timestamp * 1000, now)})`),
    h('td', {}, typeof latest === 'string' ? latest : `${latest.size.toLocaleString('en')}${latest.time === undefined ? '' : ` at ${isoTime(latest.time)}`}`),
    h('td', { class: status.startsWith('✓') ? 'ok' : status.startsWith('✗') ? 'bad' : '' }, status),
  )
}

/** The policy narrowed to one witness: a witness's own checkpoint is cosigned by it alone. */
function onlyWitness(policy: Policy, w: PolicyWitness): Policy {
  return { ...policy, witnesses: new Map([[w.name, w]]), groups: new Map(), quorum: w.name }
}

/** Returns the origin, tree size and root (base64) of a checkpoint note, parsed strictly (throws MALFORMED). */
function parseCheckpointText(note: string): { origin: string; treeSize: number; rootHash: string } {
  const cp = parseCheckpoint(parseNote(note).text)
  return { origin: cp.origin, treeSize: cp.treeSize, rootHash: toBase64(cp.rootHash) }
}

async function fillEntries(panel: HTMLElement, client: LogClient, treeSize: number, page: number): Promise<void> {
  const to = Math.max(0, treeSize - page * PAGE)
  const from = Math.max(0, to - PAGE)
  const list = to === 0 ? [] : (await client.entries(from, to, treeSize)).reverse()
  const nav = h(
    'nav',
    { class: 'pager', 'aria-label': 'pages of entries' },
    page > 0 ? h('a', { href: page === 1 ? '#/log' : `#/log/${page - 1}` }, '← Newer') : null,
    ` entries ${from.toLocaleString('en')} to ${Math.max(from, to - 1).toLocaleString('en')} of ${treeSize.toLocaleString('en')} `,
    from > 0 ? h('a', { href: `#/log/${page + 1}`, id: 'older' }, 'Older →') : null,
  )
  replace(
    panel,
    h('h3', {}, page === 0 ? 'Newest entries' : 'Entries'),
    list.length === 0 ? h('p', {}, 'The log is empty.') : h('div', { class: 'scroll' }, entryTable(list)),
    nav,
  )
}

function entryTable(list: LoggedEntry[]): HTMLElement {
  return h(
    'table',
    { id: 'entry-table' },
    h('thead', {}, h('tr', {}, ...['Index', "Actor's time", 'Actor', 'Action', 'Target'].map((t) => h('th', { scope: 'col' }, t)))),
    h(
      'tbody',
      {},
      ...list.map((e) =>
        h(
          'tr',
          {},
          h('td', {}, h('a', { href: `#/entry/${e.index}` }, String(e.index))),
          ...(e.statement !== undefined
            ? [h('td', {}, isoTime(e.statement.time)), h('td', {}, code(e.statement.actor)), h('td', {}, e.statement.action), h('td', {}, code(e.statement.target))]
            : e.revocation !== undefined
              ? [
                  h('td', {}, isoTime(e.revocation.time)),
                  h('td', {}, e.revocation.revoker === undefined ? 'a trusted issuer key' : code(e.revocation.revoker)),
                  h('td', {}, h('strong', {}, 'REVOKES')),
                  h('td', {}, code(e.revocation.subject), ` key ${e.revocation.key.slice(0, 16)}…`),
                ]
              : [h('td', { colspan: 4, class: 'muted' }, `neither an action statement nor a revocation: ${e.problem ?? ''}`)]),
        ),
      ),
    ),
  )
}

/** Counts the entries of the last hour per minute (by the actors' clocks), newest bundles first, and draws them. */
async function fillChart(panel: HTMLElement, client: LogClient, treeSize: number, now: number): Promise<void> {
  const perMinute = new Array<number>(60).fill(0)
  let read = 0
  let complete = treeSize === 0
  for (let b = Math.ceil(treeSize / TILE_WIDTH) - 1; b >= 0 && !complete; b--) {
    if (read === MAX_CHART_BUNDLES) break
    read++
    const entries = await client.entries(b * TILE_WIDTH, Math.min(treeSize, (b + 1) * TILE_WIDTH), treeSize)
    let oldest = Infinity
    for (const e of entries) {
      const time = e.statement?.time ?? e.revocation?.time
      if (time === undefined) continue
      oldest = Math.min(oldest, time)
      const ago = now - time
      if (ago >= 0 && ago < HOUR_MS) perMinute[59 - Math.floor(ago / 60_000)]!++
    }
    if (oldest < now - HOUR_MS || b === 0) complete = true
  }
  const total = perMinute.reduce((a, b) => a + b, 0)
  const peak = Math.max(...perMinute)
  replace(
    panel,
    h('h3', {}, 'Entries per minute, last hour'),
    barChart(perMinute, `${total} entries in the last hour, at most ${peak} in one minute`),
    h(
      'p',
      { class: 'muted', id: 'activity-summary' },
      `${total.toLocaleString('en')} entries in the last hour by the actors' clocks; busiest minute ${peak.toLocaleString('en')}.`,
      complete ? '' : ` Counted from the newest ${(read * TILE_WIDTH).toLocaleString('en')} entries only; the hour holds more.`,
    ),
  )
}

const SVG = 'http://www.w3.org/2000/svg'

function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v))
  if (text !== undefined) el.textContent = text
  return el
}

/** Returns a bar chart of 60 per-minute counts, oldest first, as an image with a text alternative. */
function barChart(counts: number[], label: string): Element {
  const W = 600
  const H = 120
  const left = 36
  const bottom = 18
  const peak = Math.max(1, ...counts)
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, class: 'chart', preserveAspectRatio: 'none' })
  const bw = (W - left) / counts.length
  counts.forEach((n, i) => {
    const bh = ((H - bottom - 6) * n) / peak
    const bar = svg('rect', { x: left + i * bw + 1, y: H - bottom - bh, width: Math.max(1, bw - 2), height: bh, class: 'bar' })
    bar.appendChild(svg('title', {}, `${60 - i} to ${59 - i} min ago: ${n}`))
    root.appendChild(bar)
  })
  root.appendChild(svg('line', { x1: left, y1: H - bottom, x2: W, y2: H - bottom, class: 'axis' }))
  root.appendChild(svg('text', { x: left - 4, y: 12, 'text-anchor': 'end', class: 'tick' }, String(peak)))
  root.appendChild(svg('text', { x: left - 4, y: H - bottom, 'text-anchor': 'end', class: 'tick' }, '0'))
  for (const [x, t, anchor] of [[left, '60 min ago', 'start'], [left + (W - left) / 2, '30 min ago', 'middle'], [W, 'now', 'end']] as const) {
    root.appendChild(svg('text', { x, y: H - 3, 'text-anchor': anchor, class: 'tick' }, t))
  }
  return root
}
