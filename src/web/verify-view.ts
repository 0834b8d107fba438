import { createVerifyCache, parsePolicy, parseTrustedIssuers, verifyActionProof, type ActionVerdict, type Policy, type TrustedIssuers } from '../verify/index.ts'
import type { ConsoleConfig } from './config.ts'
import { download, h, isoTime, replace } from './dom.ts'
import { verdictCard } from './verdict-card.ts'

/** One proof file and its verdict. */
export interface Checked {
  name: string
  verdict: ActionVerdict
}

/** The Verify view's state that outlives a re-render (the last batch, for sorting and export). */
interface VerifyState {
  results: Checked[]
  sort: { key: ColumnKey; dir: 1 | -1 }
}

type ColumnKey = 'name' | 'verdict' | 'reason' | 'actor' | 'action' | 'target' | 'time' | 'index' | 'loggedBy'

const COLUMNS: { key: ColumnKey; label: string; value: (c: Checked) => string | number }[] = [
  { key: 'name', label: 'File', value: (c) => c.name },
  { key: 'verdict', label: 'Verdict', value: (c) => (c.verdict.ok ? 'VALID' : 'INVALID') },
  { key: 'reason', label: 'Reason', value: (c) => (c.verdict.ok ? '' : c.verdict.reason) },
  { key: 'actor', label: 'Actor', value: (c) => c.verdict.statement?.actor ?? '' },
  { key: 'action', label: 'Action', value: (c) => c.verdict.statement?.action ?? '' },
  { key: 'target', label: 'Target', value: (c) => c.verdict.statement?.target ?? '' },
  { key: 'time', label: "Actor's time", value: (c) => (c.verdict.statement === undefined ? '' : isoTime(c.verdict.statement.time)) },
  { key: 'index', label: 'Index', value: (c) => c.verdict.index ?? -1 },
  { key: 'loggedBy', label: 'Logged by', value: (c) => (c.verdict.loggedBy === undefined ? '' : isoTime(c.verdict.loggedBy * 1000)) },
]

/** Most proof files taken at once: each is small, but a dropped folder of thousands should not freeze the tab for minutes unannounced. */
const MAX_FILES = 20_000

/**
 * Returns the Verify view: pick or drop `.tlog-proof` files, check them
 * in this browser against the policy and issuers in the two fields (the
 * serving log's own, prefilled, or pasted), and show one verdict as a card
 * or many as a sortable table with CSV export.
 */
export function verifyView(config: ConsoleConfig | undefined): HTMLElement {
  const state: VerifyState = { results: [], sort: { key: 'verdict', dir: 1 } }
  const status = h('p', { id: 'verify-status', role: 'status', 'aria-live': 'polite' })
  const out = h('div', { id: 'verify-results' })
  const policy = h('textarea', { id: 'policy', name: 'policy', rows: 6, spellcheck: 'false', autocomplete: 'off', value: config?.policy ?? '' })
  const issuers = h('textarea', { id: 'issuers', name: 'issuers', rows: 3, spellcheck: 'false', autocomplete: 'off', value: config?.issuers ?? '' })
  const input = h('input', { type: 'file', id: 'proof-files', multiple: true, accept: '.tlog-proof,text/plain', class: 'visually-hidden' })

  const run = async (files: File[]): Promise<void> => {
    if (files.length === 0) return
    if (files.length > MAX_FILES) {
      replace(status, `That is ${files.length} files; the console takes at most ${MAX_FILES} at once.`)
      return
    }
    let trust: { policy: Policy; issuers: TrustedIssuers }
    try {
      trust = { policy: parsePolicy(policy.value), issuers: parseTrustedIssuers(issuers.value) }
    } catch (e) {
      replace(status, h('strong', {}, 'Fix the trust settings first: '), e instanceof Error ? e.message : String(e))
      return
    }
    replace(status, `Reading ${files.length} file${files.length === 1 ? '' : 's'}…`)
    replace(out)
    const bytes = await Promise.all(files.map(async (f) => new Uint8Array(await f.arrayBuffer())))
    replace(status, `Verifying ${files.length} proof${files.length === 1 ? '' : 's'}…`)
    const cache = createVerifyCache()
    const started = performance.now()
    const results: Checked[] = []
    for (let i = 0; i < files.length; i++) {
      results.push({ name: files[i]!.name, verdict: await verifyOne(bytes[i]!, trust, cache) })
      // Yield now and then so the page stays responsive and shows progress.
      if (i % 50 === 49) {
        replace(status, `Verified ${i + 1} of ${files.length}…`)
        await new Promise((r) => setTimeout(r, 0))
      }
    }
    const seconds = (performance.now() - started) / 1000
    state.results = results
    const valid = results.filter((r) => r.verdict.ok).length
    const rate = seconds > 0 ? Math.round(files.length / seconds) : files.length
    status.dataset.valid = String(valid)
    status.dataset.invalid = String(results.length - valid)
    status.dataset.seconds = seconds.toFixed(3)
    replace(
      status,
      h('strong', {}, `${valid} valid, ${results.length - valid} invalid`),
      ` of ${results.length} proof${results.length === 1 ? '' : 's'}, verified in this browser in ${seconds.toFixed(2)} s` + (results.length > 1 ? ` (${rate} proofs/s).` : '.'),
    )
    render()
  }

  const render = (): void => {
    const rs = state.results
    if (rs.length === 1) {
      replace(out, verdictCard(rs[0]!.verdict, rs[0]!.name))
      return
    }
    const detail = h('div', { id: 'batch-detail', tabindex: -1 })
    replace(out, batchTable(state, render, detail))
  }

  const drop = h(
    'label',
    { for: 'proof-files', class: 'dropzone', id: 'dropzone', tabindex: 0 },
    h('strong', {}, 'Drop .tlog-proof files here'),
    h('span', {}, ' or press Enter to pick them (one or many).'),
  )
  drop.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault()
      input.click()
    }
  })
  drop.addEventListener('dragover', (e) => {
    e.preventDefault()
    drop.classList.add('over')
  })
  drop.addEventListener('dragleave', () => drop.classList.remove('over'))
  drop.addEventListener('drop', (e) => {
    e.preventDefault()
    e.stopPropagation()
    drop.classList.remove('over')
    void run(Array.from(e.dataTransfer?.files ?? []))
  })
  input.addEventListener('change', () => {
    void run(Array.from(input.files ?? []))
    input.value = ''
  })

  // Files dropped anywhere on the view count too: a drop that misses the
  // zone by a little must not make the browser leave the page for the file.
  const section = h(
    'section',
    { id: 'verify', 'aria-labelledby': 'verify-title' },
    h('h2', { id: 'verify-title' }, 'Verify proofs'),
    h(
      'p',
      { class: 'lede' },
      'Checks each proof here, in your browser: the log’s signature, the witnesses’ cosignatures and quorum, the inclusion proof, the actor’s signature and its credential chain. Nothing is uploaded.',
    ),
    input,
    drop,
    status,
    out,
    h(
      'details',
      { class: 'trust', open: config === undefined },
      h('summary', {}, config === undefined ? 'Trust settings (paste the policy and issuers you trust)' : `Trust settings (prefilled with the policy and issuers of ${config.origin}; editable)`),
      h('label', { for: 'policy' }, 'Policy (tlog-policy: log key, witnesses, quorum)'),
      policy,
      h('label', { for: 'issuers' }, 'Trusted issuers (issuer <org> <vkey> <subject-prefix> lines)'),
      issuers,
    ),
  )
  section.addEventListener('dragover', (e) => e.preventDefault())
  section.addEventListener('drop', (e) => {
    e.preventDefault()
    void run(Array.from(e.dataTransfer?.files ?? []))
  })
  return section
}

/** Verifies one proof's bytes; a throw (a bug, never the proof's fault by contract) is shown as an invalid proof rather than lost. */
async function verifyOne(bytes: Uint8Array, trust: { policy: Policy; issuers: TrustedIssuers }, cache: ReturnType<typeof createVerifyCache>): Promise<ActionVerdict> {
  try {
    return await verifyActionProof(bytes, { ...trust, cache })
  } catch (e) {
    return { ok: false, reason: 'MALFORMED_PROOF', message: `the verifier failed: ${e instanceof Error ? e.message : String(e)}` }
  }
}

/** Returns the batch table: a summary, CSV export, sortable headers (buttons, so keyboards reach them) and one row per proof. */
function batchTable(state: VerifyState, rerender: () => void, detail: HTMLElement): HTMLElement {
  const { key, dir } = state.sort
  const col = COLUMNS.find((c) => c.key === key)!
  const rows = [...state.results].sort((a, b) => {
    const x = col.value(a)
    const y = col.value(b)
    return (x < y ? -1 : x > y ? 1 : 0) * dir || a.name.localeCompare(b.name)
  })
  const head = h(
    'tr',
    {},
    ...COLUMNS.map((c) =>
      h(
        'th',
        { scope: 'col', 'aria-sort': c.key === key ? (dir === 1 ? 'ascending' : 'descending') : 'none' },
        h(
          'button',
          {
            type: 'button',
            class: 'sort',
            onclick: () => {
              state.sort = { key: c.key, dir: state.sort.key === c.key ? (state.sort.dir === 1 ? -1 : 1) : 1 }
              rerender()
            },
          },
          c.label,
          c.key === key ? (dir === 1 ? ' ▲' : ' ▼') : '',
        ),
      ),
    ),
  )
  const body = rows.map((r) =>
    h(
      'tr',
      { class: r.verdict.ok ? 'ok' : 'bad', 'data-verdict': r.verdict.ok ? 'VALID' : 'INVALID' },
      ...COLUMNS.map((c) => {
        const v = c.value(r)
        if (c.key === 'name') {
          const show = (): void => {
            replace(detail, verdictCard(r.verdict, r.name), h('p', {}, h('button', { type: 'button', onclick: () => replace(detail) }, 'Close')))
            detail.scrollIntoView({ block: 'start' })
            detail.focus({ preventScroll: true })
          }
          return h('td', { class: 'name' }, h('button', { type: 'button', class: 'link', onclick: show }, String(v)))
        }
        if (c.key === 'verdict') return h('td', { class: 'word' }, r.verdict.ok ? '✓ VALID' : '✗ INVALID')
        return h('td', {}, c.key === 'index' && v === -1 ? '' : String(v))
      }),
    ),
  )
  return h(
    'div',
    { class: 'batch' },
    h('p', {}, h('button', { type: 'button', id: 'export-csv', onclick: () => download('actlog-verdicts.csv', toCsv(rows), 'text/csv') }, 'Export CSV'), ' Select a file name to see its verdict in full.'),
    detail,
    h('div', { class: 'scroll tall' }, h('table', { id: 'batch-table' }, h('caption', {}, `${rows.length} proofs, sorted by ${col.label.toLowerCase()}`), h('thead', {}, head), h('tbody', {}, ...body))),
  )
}

/** Returns the verdicts as CSV (RFC 4180), one row per proof, with the reason message and witnesses too. */
export function toCsv(rows: readonly Checked[]): string {
  const header = [...COLUMNS.map((c) => c.key), 'message', 'witnesses', 'issuer', 'org']
  const lines = [header.join(',')]
  for (const r of rows) {
    const v = r.verdict
    const cells = [
      ...COLUMNS.map((c) => String(c.key === 'index' && c.value(r) === -1 ? '' : c.value(r))),
      v.ok ? '' : v.message,
      (v.witnesses ?? []).map((w) => `${w.name}@${isoTime(w.timestamp * 1000)}`).join(' '),
      v.ok ? v.lineage.issuer : '',
      v.ok ? v.lineage.org : '',
    ]
    lines.push(cells.map(csvCell).join(','))
  }
  return lines.join('\r\n') + '\r\n'
}

/** One CSV cell: quoted when needed, and a leading = + - @ defused so a spreadsheet never runs a logged value as a formula. */
function csvCell(s: string): string {
  let v = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s
  if (/[",\r\n]/.test(v)) v = `"${v.replace(/"/g, '""')}"`
  return v
}
