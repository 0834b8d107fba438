import { readFileSync, writeFileSync } from 'node:fs'
import { submitStatement, type AddReply } from './client.ts'
import { readCredentialFile, readKeyFile, UsageError } from './files.ts'
import { signAction, type ActionInput } from './statements.ts'

/** Options of `actlog submit`. */
export interface SubmitOptions {
  log: string
  key: string
  credentials: string
  file?: string
  action?: string
  target?: string
  tool?: string
  params?: string
  paramsFile?: string
  policy?: string
  decision?: string
  policyRef?: string
  onBehalfOf?: string[]
  approvedBy?: string
  approvalRef?: string
  instructionFile?: string
  out?: string
  waitWitnessed?: boolean
}

function fromFlags(o: SubmitOptions): ActionInput {
  const missing = (['action', 'target', 'tool', 'policy', 'decision'] as const).filter((k) => o[k] === undefined)
  if (missing.length > 0) throw new UsageError(`missing ${missing.map((m) => `--${m}`).join(', ')} (or give the whole action with --file)`)
  const at = o.policy!.lastIndexOf('@')
  if (at <= 0 || at === o.policy!.length - 1) throw new UsageError('--policy must be <id>@<version>, e.g. payments-limit@7')
  const a: ActionInput = {
    action: o.action!,
    target: o.target!,
    tool: o.tool!,
    policy: { id: o.policy!.slice(0, at), version: o.policy!.slice(at + 1), decision: o.decision! },
  }
  if (o.params !== undefined) a.params = o.params
  if (o.paramsFile !== undefined) a.paramsFile = o.paramsFile
  if (o.policyRef !== undefined) a.policy.ref = o.policyRef
  if (o.onBehalfOf !== undefined && o.onBehalfOf.length > 0) {
    a.delegation = o.onBehalfOf.map((d) => {
      const eq = d.lastIndexOf('=')
      if (eq <= 0 || eq === d.length - 1) throw new UsageError(`--on-behalf-of must be <principal>=<scope> (got ${d})`)
      return { principal: d.slice(0, eq), scope: d.slice(eq + 1) }
    })
  }
  if ((o.approvedBy === undefined) !== (o.approvalRef === undefined)) throw new UsageError('give both --approved-by and --approval-ref, or neither')
  if (o.approvedBy !== undefined) a.approval = { by: o.approvedBy, ref: o.approvalRef! }
  return a
}

/** `actlog submit`: builds and signs a statement, submits it, writes the `.tlog-proof`. */
export async function submit(o: SubmitOptions): Promise<AddReply & { file?: string }> {
  let action: ActionInput
  if (o.file !== undefined) {
    try {
      action = JSON.parse(readFileSync(o.file, 'utf8')) as ActionInput
    } catch (e) {
      throw new UsageError(`cannot read the action file ${o.file}: ${(e as Error).message}`)
    }
  } else {
    action = fromFlags(o)
  }
  if (o.instructionFile !== undefined) action = { ...action, instructionFile: o.instructionFile }
  const entry = await signAction(readKeyFile(o.key), readCredentialFile(o.credentials), action, Date.now())
  const reply = await submitStatement(o.log, entry, { waitWitnessed: o.waitWitnessed === true })
  const file = o.out ?? `${reply.index}.tlog-proof`
  writeFileSync(file, reply.proof)
  return { ...reply, file }
}
