/**
 * The actlog web console (browser): Verify, Log and Entry views behind a
 * hash router. Built by esbuild into one self-contained HTML page
 * (scripts/build-web.ts); the log serves it at `/` with its own policy and
 * issuers embedded, and the same file opened from disk verifies offline.
 */
import { parsePolicy, parseTrustedIssuers, type Policy, type TrustedIssuers } from '../verify/index.ts'
import { readConfig, type ConsoleConfig } from './config.ts'
import { h, replace } from './dom.ts'
import { entryView } from './entry-view.ts'
import { LogClient } from './log-client.ts'
import { logView } from './log-view.ts'
import { verifyView } from './verify-view.ts'

/** The route a location hash names. */
type Route = { view: 'verify' } | { view: 'log'; page: number } | { view: 'entry'; index: number }

/** Returns the route of `hash` (`#/`, `#/log`, `#/log/<page>`, `#/entry/<index>`); anything else is the Verify view. */
export function routeOf(hash: string): Route {
  const m = /^#\/(log|entry)(?:\/(\d{1,15}))?$/.exec(hash)
  if (m === null) return { view: 'verify' }
  const n = m[2] === undefined ? 0 : Number(m[2])
  if (m[1] === 'log') return { view: 'log', page: n }
  return m[2] === undefined ? { view: 'verify' } : { view: 'entry', index: n }
}

function start(): void {
  const config = readConfig(document)
  const served = config !== undefined && location.protocol !== 'file:'
  const client = served ? new LogClient(new URL('.', location.href).href) : undefined
  // The Verify view keeps its files and table across visits to other views.
  const verify = verifyView(config)
  let trust: { policy: Policy; issuers: TrustedIssuers } | undefined
  if (config !== undefined) {
    try {
      trust = { policy: parsePolicy(config.policy), issuers: parseTrustedIssuers(config.issuers) }
    } catch {
      trust = undefined
    }
  }

  const main = h('main', { id: 'main', tabindex: -1 })
  const links = [
    ['#/', 'Verify', 'verify'],
    ['#/log', 'Log', 'log'],
  ] as const
  const nav = h('nav', { 'aria-label': 'views' }, ...links.map(([href, label, view]) => h('a', { href, 'data-view': view }, label)))
  const entryForm = h(
    'form',
    { class: 'goto', role: 'search' },
    h('label', { for: 'goto-index' }, 'Entry'),
    h('input', { id: 'goto-index', name: 'index', inputmode: 'numeric', pattern: '[0-9]+', size: 8, placeholder: 'index', required: true }),
    h('button', { type: 'submit' }, 'Show'),
  )
  entryForm.addEventListener('submit', (e) => {
    e.preventDefault()
    const v = (entryForm.elements.namedItem('index') as HTMLInputElement).value.trim()
    if (/^\d{1,15}$/.test(v)) location.hash = `#/entry/${v}`
  })
  const header = h(
    'header',
    {},
    h('a', { class: 'skip', href: '#main', onclick: (e: Event) => (e.preventDefault(), main.focus()) }, 'Skip to content'),
    h('h1', {}, 'actlog', h('span', { class: 'muted' }, served ? ` · ${config!.origin}` : ' · offline verifier')),
    nav,
    served ? entryForm : null,
  )
  replace(document.body, header, main, h('footer', {}, served ? `Served by the log ${config!.origin}. ` : 'This page needs no network. ', 'Every check runs in this browser with the actlog verifier.'))

  const show = (): void => {
    const r = routeOf(location.hash)
    for (const a of Array.from(nav.querySelectorAll('a'))) {
      if (a.dataset.view === r.view) a.setAttribute('aria-current', 'page')
      else a.removeAttribute('aria-current')
    }
    if (r.view === 'verify') {
      document.title = 'Verify · actlog'
      replace(main, verify)
      return
    }
    if (client === undefined || trust === undefined) {
      document.title = 'actlog'
      replace(main, notServed(config))
      return
    }
    if (r.view === 'log') {
      document.title = 'Log · actlog'
      replace(main, logView(client, trust.policy, r.page))
    } else {
      document.title = `Entry ${r.index} · actlog`
      replace(main, entryView(client, trust, r.index))
    }
  }
  // Outside the Verify view a dropped file would replace the page with itself.
  window.addEventListener('dragover', (e) => e.preventDefault())
  window.addEventListener('drop', (e) => e.preventDefault())
  window.addEventListener('hashchange', show)
  show()
}

function notServed(config: ConsoleConfig | undefined): HTMLElement {
  return h(
    'section',
    {},
    h('h2', {}, 'No log to read'),
    h('p', {}, config === undefined ? 'This copy of the console was opened from a file: it verifies proofs, but browses no log. Open a log’s own address to browse it.' : 'The policy or issuers this log embedded do not parse, so its entries cannot be checked here.'),
    h('p', {}, h('a', { href: '#/' }, 'Go to Verify')),
  )
}

start()
