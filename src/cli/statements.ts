import { readFileSync } from 'node:fs'
import { buildStatement, fromHex, generateSeed, sha256, type ActionStatement, type Credential, type DelegationLink, type SignerKey } from '../core/index.ts'
import { UsageError } from './files.ts'

/** The action part of a statement, as `actlog submit --file` reads it (JSON). */
export interface ActionInput {
  action: string
  target: string
  tool: string
  /** Hex SHA-256 of the request bytes the tool received. */
  params?: string
  /** A file holding the request bytes; its SHA-256 becomes `params`. */
  paramsFile?: string
  policy: { id: string; version: string; decision: string; ref?: string }
  delegation?: { principal: string; scope: string; grant?: string }[]
  approval?: { by: string; ref: string }
  /** Hex SHA-256 of the instruction (prompt, trigger, ticket) that caused the action. */
  instruction?: string
  /** A file holding the instruction; its SHA-256 becomes `instruction`. The text never enters the log. */
  instructionFile?: string
}

function hex(s: string, what: string, len?: number): Uint8Array {
  if (!/^([0-9a-f]{2})+$/.test(s) || (len !== undefined && s.length !== len * 2)) {
    throw new UsageError(`${what} must be ${len === undefined ? '' : `${len} bytes of `}lowercase hex`)
  }
  return fromHex(s)
}

/** Returns the statement fields for an action, the actor's key name and a fresh nonce, at `now`. */
export function statementFor(actor: string, a: ActionInput, now: number): ActionStatement {
  let params: Uint8Array
  if (a.params !== undefined) params = hex(a.params, 'params', 32)
  else if (a.paramsFile !== undefined) params = sha256(readFileSync(a.paramsFile))
  else throw new UsageError('give the request parameters: params (hex SHA-256) or paramsFile')
  const s: ActionStatement = {
    actor,
    action: a.action,
    target: a.target,
    params,
    tool: a.tool,
    policy: { id: a.policy.id, version: a.policy.version, decision: a.policy.decision },
    time: now,
    nonce: generateSeed().slice(0, 16),
  }
  if (a.policy.ref !== undefined) s.policy.ref = hex(a.policy.ref, 'policy.ref')
  if (a.delegation !== undefined && a.delegation.length > 0) {
    s.delegation = a.delegation.map((d): DelegationLink => {
      const link: DelegationLink = { principal: d.principal, scope: d.scope }
      if (d.grant !== undefined) link.grant = hex(d.grant, 'delegation grant')
      return link
    })
  }
  if (a.approval !== undefined) s.approval = { by: a.approval.by, ref: a.approval.ref }
  if (a.instruction !== undefined) s.instruction = hex(a.instruction, 'instruction', 32)
  else if (a.instructionFile !== undefined) s.instruction = sha256(readFileSync(a.instructionFile))
  return s
}

/** Returns the signed entry for an action by the actor whose key and credential chain are given. */
export async function signAction(key: SignerKey, credentials: Credential[], a: ActionInput, now: number): Promise<Uint8Array> {
  if (credentials[0]!.subject !== key.name) {
    throw new UsageError(`the credential chain is for ${credentials[0]!.subject}, but the key is ${key.name}`)
  }
  return buildStatement(statementFor(key.name, a, now), { seed: key.seed, credentials })
}
