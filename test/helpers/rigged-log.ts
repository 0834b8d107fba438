/**
 * A log server rigged by the test: it serves whatever checkpoint and tiles
 * the test sets (over real HTTP), so a test can show an auditor a fork, a
 * rollback, an entry that does not match its tile, or a statement a real log
 * would refuse. Trees are built with core code.
 */
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import type { AddressInfo } from 'node:net'
import {
  EMPTY_EDGE,
  appendToEdge,
  cosignatureSigner,
  ed25519Signer,
  edgeRoot,
  encodeCheckpoint,
  encodeEntryBundle,
  encodeVerifierKey,
  leafHash,
  parseTilePath,
  publicKeyFromSeed,
  sha256,
  signNote,
  toHex,
  utf8,
  TILE_WIDTH,
} from '../../src/core/index.ts'
import { LOG_SEED, ORIGIN } from './log-fixture.ts'

export const RIG_WITNESS_SEED = sha256(utf8('rigged witness'))
export const RIG_WITNESS = 'rig-witness.example'
export const RIG_POLICY = [
  `log ${encodeVerifierKey(ORIGIN, 1, publicKeyFromSeed(LOG_SEED))}`,
  `witness W ${encodeVerifierKey(RIG_WITNESS, 4, publicKeyFromSeed(RIG_WITNESS_SEED))}`,
  'quorum W',
  '',
].join('\n')

/** A tree: its tiles (latest version per tile) and entry bundles, and its cosigned checkpoint. */
export interface Tree {
  size: number
  tiles: Map<string, Uint8Array>
  checkpoint: string
}

/** Builds the tree of `entries` and a checkpoint signed by the fixture log key and cosigned by the rig witness. */
export async function buildTree(entries: Uint8Array[], now = Math.floor(Date.now() / 1000)): Promise<Tree> {
  const tiles = new Map<string, Uint8Array>()
  const r = appendToEdge(EMPTY_EDGE, entries.map(leafHash))
  for (const w of r.written) tiles.set(`${w.tile.level}/${w.tile.index}`, w.data)
  for (let i = 0; i * TILE_WIDTH < entries.length; i++) tiles.set(`entries/${i}`, encodeEntryBundle(entries.slice(i * TILE_WIDTH, (i + 1) * TILE_WIDTH)))
  const text = encodeCheckpoint({ origin: ORIGIN, treeSize: entries.length, rootHash: edgeRoot(r.edge), extensions: [] })
  const checkpoint = await signNote(text, [ed25519Signer(ORIGIN, LOG_SEED), cosignatureSigner(RIG_WITNESS, RIG_WITNESS_SEED, () => now)])
  return { size: entries.length, tiles, checkpoint }
}

/** Returns the bytes of a tile path from a tree, cut to the width asked, or undefined. */
function tileBytes(tree: Tree, path: string): Uint8Array | undefined {
  const t = parseTilePath(path)
  const d = tree.tiles.get(`${t.level}/${t.index}`)
  if (d === undefined) return undefined
  if (t.level !== 'entries') return d.length >= t.width * 32 ? d.subarray(0, t.width * 32) : undefined
  let o = 0
  for (let i = 0; i < t.width; i++) {
    if (o >= d.length) return undefined
    o += 2 + ((d[o]! << 8) | d[o + 1]!)
  }
  return d.subarray(0, o)
}

/** A running rigged log. `tree` is what it serves; `witnessCheckpoint` what its witness's monitoring endpoint returns. */
export class RiggedLog {
  tree!: Tree
  witnessCheckpoint: string | undefined
  url = ''
  #close: (() => Promise<void>) | undefined

  async start(tree: Tree): Promise<void> {
    this.tree = tree
    const app = new Hono()
    app.get('/checkpoint', (c) => c.text(this.tree.checkpoint))
    app.get('/tile/*', (c) => {
      const d = tileBytes(this.tree, c.req.path.slice(1))
      return d === undefined ? c.text('not found', 404) : c.body(d.slice() as Uint8Array<ArrayBuffer>)
    })
    app.get('/witness/:hash/checkpoint', (c) => {
      if (this.witnessCheckpoint === undefined || c.req.param('hash') !== toHex(sha256(utf8(ORIGIN)))) return c.text('none', 404)
      return c.text(this.witnessCheckpoint)
    })
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 })
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    this.#close = () => new Promise<void>((resolve) => server.close(() => resolve()))
  }

  async stop(): Promise<void> {
    await this.#close?.()
  }
}
