/**
 * The public API for host applications. Recording is also plain SQL
 * (`webhooks.record_render_status`); everything else runs as the `imtegrate-webhooks` command.
 */
export { type Config, loadConfig } from './config.ts'
export { generateSecret, imtegrateSignature, signatureHeaders, standardSignature } from './delivery/sign.ts'
export {
  type RenderKind,
  type RenderStatus,
  type RenderStatusChange,
  recordRenderStatus,
} from './outbox/record.ts'
export { migrate } from './store/migrate.ts'
export { startWorker, type WorkerHandle } from './worker/runner.ts'
