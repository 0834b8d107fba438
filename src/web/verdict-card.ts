import { REASONS, type ActionVerdict, type CredentialLineage, type DecodedStatement, type WitnessCosignature } from '../verify/index.ts'
import { h, isoTime, type Child } from './dom.ts'
import type { DecodedRevocation } from './log-client.ts'

/**
 * One verdict drawn for people: VALID or INVALID in words (colour only
 * repeats it), the reason code with its sentence, then who did what and
 * everything the checks established. Shared by the Verify and Entry views.
 */

/** Returns the verdict's headline: "VALID" or "INVALID" with a mark, as text. */
export function verdictWord(v: ActionVerdict): string {
  return v.ok ? '✓ VALID' : '✗ INVALID'
}

/** Returns a description list row. */
function row(term: string, ...value: (Child | Child[])[]): HTMLElement[] {
  return [h('dt', {}, term), h('dd', {}, ...value)]
}

/** Returns `text` in a code element (hashes, keys, identifiers). */
export function code(text: string, cls?: string): HTMLElement {
  return h('code', cls === undefined ? {} : { class: cls }, text)
}

/** Returns the statement's fields as description list rows. */
export function statementRows(s: DecodedStatement): HTMLElement[] {
  const delegation =
    s.delegation.length === 0
      ? 'no one (the actor acted on its own account)'
      : h('ol', { class: 'chain' }, ...s.delegation.map((d) => h('li', {}, code(d.principal), ` for scope `, code(d.scope), d.grant === undefined ? '' : ` (grant ${d.grant.slice(0, 16)}…)`)))
  return [
    ...row('Who', code(s.actor, 'actor')),
    ...row('Did what', code(s.action, 'action')),
    ...row('On what', code(s.target, 'target')),
    ...row('Through tool', code(s.tool)),
    ...row('Request hash', code(s.params, 'hash')),
    ...row('Policy decision', code(`${s.policy.id}@${s.policy.version}`), ': ', h('strong', {}, s.policy.decision), s.policy.ref === undefined ? '' : ` (ref ${s.policy.ref})`),
    ...row('On behalf of', delegation),
    ...row('Approved by', s.approval === undefined ? 'no approval recorded' : [code(s.approval.by), ` (record ${s.approval.ref})`]),
    ...row("Actor's clock", isoTime(s.time)),
  ]
}

/** Returns the credential lineage as an ordered chain, actor first, ending at the trusted issuer. */
export function lineageList(l: CredentialLineage): HTMLElement {
  const links = l.links.map((k, i) =>
    h(
      'li',
      {},
      h('span', { class: 'role' }, `${k.role} `),
      code(k.subject),
      h('span', { class: 'muted' }, ` key ${k.subjectKey.slice(0, 16)}…`),
      h('br'),
      `vouched for by `,
      code(k.issuer),
      i === l.links.length - 1 ? ' (trusted issuer)' : '',
      h('br'),
      h('span', { class: 'window' }, `valid ${isoTime(k.notBefore)} to ${isoTime(k.notAfter)}`),
    ),
  )
  return h(
    'ol',
    { class: 'lineage', 'aria-label': 'credential lineage, actor first' },
    ...links,
    h('li', { class: 'root' }, 'trusted issuer ', code(l.issuer), ' of organisation ', h('strong', {}, l.org)),
  )
}

/** Returns the witnesses that cosigned, with their cosignature times. */
export function witnessList(ws: readonly WitnessCosignature[]): HTMLElement {
  if (ws.length === 0) return h('p', {}, 'no policy witness cosigned this checkpoint')
  return h('ul', { class: 'witnesses' }, ...ws.map((w) => h('li', {}, h('strong', { class: 'witness' }, w.name), ` cosigned at ${isoTime(w.timestamp * 1000)}`)))
}

/** Returns the rows of what the checkpoint and inclusion checks established: witnesses, index, checkpoint, logged-by time. */
function logFacts(v: ActionVerdict): HTMLElement[] {
  const facts: HTMLElement[] = []
  if (v.witnesses !== undefined) facts.push(...row('Witnesses', witnessList(v.witnesses)))
  if (v.index !== undefined) facts.push(...row('Log index', String(v.index)))
  if (v.checkpoint !== undefined) {
    facts.push(...row('Checkpoint', code(v.checkpoint.origin), `, tree size ${v.checkpoint.treeSize}, root `, code(v.checkpoint.rootHash, 'hash')))
  }
  if (v.loggedBy !== undefined) facts.push(...row('Provably logged by', h('strong', {}, isoTime(v.loggedBy * 1000)), h('span', { class: 'muted' }, ' (when the witness quorum had cosigned)')))
  return facts
}

/** The check of a revocation entry: by what right it was made, or why it does not hold. */
export type RevocationCheck = { ok: true; authority: string; org: string; issuer: string; lineage?: CredentialLineage } | { ok: false; message: string }

/**
 * Returns the card of a revocation entry whose inclusion verified (`v`
 * carries the checkpoint and inclusion facts): what it revokes, since when
 * and why, and by what authority, or why that authority does not hold.
 */
export function revocationCard(r: DecodedRevocation, check: RevocationCheck, v: ActionVerdict, title: string): HTMLElement {
  const facts = [
    ...row('Revokes', code(r.subject, 'target'), h('span', { class: 'muted' }, ` key ${r.key}`)),
    ...row('Revoked at', isoTime(r.time), ' (the revoker’s clock)'),
    ...row('Suspected since', r.since === undefined ? 'not given: entries before the revocation stand' : isoTime(r.since)),
    ...row('Reason', r.reason),
    ...row('Revoked by', r.revoker === undefined ? 'a trusted issuer key' : code(r.revoker), h('span', { class: 'muted' }, ` key ${r.revokerKey.slice(0, 16)}…`)),
  ]
  if (check.ok) {
    facts.push(...row('Authority', `${check.authority}, under trusted issuer `, code(check.issuer), ' of organisation ', h('strong', {}, check.org)))
    if (check.lineage !== undefined) facts.push(...row('Revoker’s lineage', lineageList(check.lineage)))
  }
  facts.push(...logFacts(v))
  return h(
    'article',
    { class: `verdict ${check.ok ? 'ok' : 'bad'}`, 'data-verdict': check.ok ? 'REVOCATION' : 'INVALID', 'aria-label': `${title}: ${check.ok ? 'a valid revocation' : 'an invalid revocation'}` },
    h('h3', {}, h('span', { class: 'word' }, check.ok ? '✓ VALID REVOCATION' : '✗ INVALID REVOCATION'), ' ', h('span', { class: 'file' }, title)),
    h('p', { class: 'reason' }, check.ok ? 'The log holds this revocation, signed by a key with authority over the revoked subject, under a checkpoint your policy trusts.' : check.message),
    h('dl', { class: 'facts' }, ...facts),
  )
}

/** Returns the card of one verdict: headline, reason, then the facts, each labelled. */
export function verdictCard(v: ActionVerdict, title: string): HTMLElement {
  const facts: HTMLElement[] = []
  if (v.statement !== undefined) facts.push(...statementRows(v.statement))
  if (v.ok) facts.push(...row('Credential lineage', lineageList(v.lineage)))
  facts.push(...logFacts(v))
  return h(
    'article',
    { class: `verdict ${v.ok ? 'ok' : 'bad'}`, 'data-verdict': v.ok ? 'VALID' : 'INVALID', 'aria-label': `${title}: ${v.ok ? 'valid' : 'invalid'}` },
    h('h3', {}, h('span', { class: 'word' }, verdictWord(v)), ' ', h('span', { class: 'file' }, title)),
    v.ok
      ? h('p', { class: 'reason' }, 'The log holds this action, signed by an actor a trusted issuer vouched for, under a checkpoint your policy trusts.')
      : h('p', { class: 'reason' }, h('code', { class: 'code' }, v.reason), ' ', REASONS[v.reason], '. ', h('span', { class: 'message' }, v.message)),
    !v.ok && v.statement !== undefined ? h('p', { class: 'muted' }, 'Below is what the log holds at this index; it is not proven to be an action the actor signed.') : null,
    facts.length === 0 ? null : h('dl', { class: 'facts' }, ...facts),
  )
}
