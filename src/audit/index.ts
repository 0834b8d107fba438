/**
 * actlog auditor (Node): follows a log over tlog-tiles, checks it, and
 * writes per-identity records with the checkpoint up to which they are complete.
 */
export { audit, type AuditOptions, type AuditOutcome, type AuditProblem, type AuditProgress } from './audit.ts'
export { CSV_HEADER, csvField, fileStem, type AuditRecord } from './records.ts'
export { loadState, type AuditState } from './state.ts'
export { readAuditReport, renderAuditReport, writeAuditReport, type AuditReport, type IdentitySummary, type ReportedProblem } from './report.ts'
