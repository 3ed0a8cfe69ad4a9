import type { ChildProcess } from 'node:child_process'
import { fork } from 'node:child_process'
import { once } from 'node:events'

export type ReplyKind = 'ok' | 'error_500' | 'too_many_429' | 'slow' | 'reset'

/** One delivery id the receiver answered 2xx, and how many times. */
export type Answered2xx = { deliveryId: string; path: string; renderId: string; times: number }

export type ReceiverStats = {
  requests: number
  byReply: Record<ReplyKind, number>
  /** Requests whose X-Imtegrate-Signature did not verify with the destination's secret. */
  badSignatures: number
  /** Requests without a delivery id header or a body with data.id. */
  malformed: number
  answered2xx: Answered2xx[]
}

export type ToReceiver = { type: 'secrets'; secrets: Record<string, string> } | { type: 'stats' }

type FromReceiver =
  | { type: 'listening'; port: number }
  | { type: 'secrets-set' }
  | { type: 'stats'; stats: ReceiverStats }

export type ChaosReceiver = {
  url(path: string): string
  /** Which secret signs the requests to each path, so signatures are checked. */
  setSecrets(secrets: Record<string, string>): Promise<void>
  stats(): Promise<ReceiverStats>
  stop(): void
}

function nextMessage<T extends FromReceiver['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<FromReceiver, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromReceiver) => {
      if (message.type === type) {
        cleanup()
        resolve(message as Extract<FromReceiver, { type: T }>)
      }
    }
    const onExit = (code: number | null) => {
      cleanup()
      reject(new Error(`the receiver process exited (code ${code})`))
    }
    const cleanup = () => {
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

/** Forks receiver-process.ts and waits until it listens on 127.0.0.1. */
export async function startReceiver(): Promise<ChaosReceiver> {
  const child = fork(new URL('./receiver-process.ts', import.meta.url), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const { port } = await Promise.race([
    nextMessage(child, 'listening'),
    once(child, 'error').then(([error]) => Promise.reject(error)),
  ])
  const ask = async <T extends FromReceiver['type']>(message: ToReceiver, reply: T) => {
    const answer = nextMessage(child, reply)
    child.send(message)
    return answer
  }
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    async setSecrets(secrets) {
      await ask({ type: 'secrets', secrets }, 'secrets-set')
    },
    stats: async () => (await ask({ type: 'stats' }, 'stats')).stats,
    stop: () => {
      child.kill('SIGKILL')
    },
  }
}
