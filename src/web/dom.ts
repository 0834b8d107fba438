/**
 * The console's one DOM helper. Every text the page shows from a proof, a
 * tile or a policy goes through `textContent` (never innerHTML): a logged
 * actor or target is attacker-chosen text and must never become markup.
 */

/** Attributes and children accepted by h(). */
export type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>
/** A child of h(): a node, text, or nothing. */
export type Child = Node | string | number | undefined | null | false

/** Returns a new element `tag` with `attrs` (on* keys become listeners, `false`/undefined are left out) and `children`. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue
    if (typeof v === 'function') el.addEventListener(k.slice(2).toLowerCase(), v)
    else if (k === 'value' && 'value' in el) (el as HTMLInputElement).value = String(v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  append(el, children)
  return el
}

/** Appends children (flattened) to `el` as nodes or text nodes. */
export function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c)
  }
}

/** Replaces the children of `el`. */
export function replace(el: Node, ...children: (Child | Child[])[]): void {
  while (el.firstChild !== null) el.removeChild(el.firstChild)
  append(el, children)
}

/** Returns an RFC 3339 UTC time for ms since the epoch, to the second ("2026-12-02 17:41:32Z"), or the number when it is out of range. */
export function isoTime(ms: number): string {
  const d = new Date(ms)
  if (Number.isNaN(d.getTime())) return `${ms} ms`
  return d.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z')
}

/** Returns a short age such as "12 s ago", "3 min ago", "2 h ago", "4 d ago" (or "in 5 s" for a future time). */
export function age(ms: number, now: number): string {
  const d = Math.round((now - ms) / 1000)
  const a = Math.abs(d)
  const s = a < 120 ? `${a} s` : a < 7200 ? `${Math.round(a / 60)} min` : a < 172_800 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86_400)} d`
  return d >= 0 ? `${s} ago` : `in ${s}`
}

/** Offers `text` as a file download named `name`. */
export function download(name: string, text: string, type = 'text/plain'): void {
  const url = URL.createObjectURL(new Blob([text], { type }))
  const a = h('a', { href: url, download: name })
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
}
