import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { listenOn } from '../src/listen.ts'

describe('listenOn', () => {
  it('listens, and for a port in use fails with one line naming what, where and the variables', async () => {
    const first = createServer()
    await listenOn(first, { host: '127.0.0.1', port: 0 }, 'the API', 'WEBHOOK_API_HOST, WEBHOOK_API_PORT')
    const { port } = first.address() as AddressInfo
    const second = createServer()
    try {
      await expect(
        listenOn(second, { host: '127.0.0.1', port }, 'the API', 'WEBHOOK_API_HOST, WEBHOOK_API_PORT'),
      ).rejects.toThrow(
        new RegExp(
          `^cannot serve the API on 127\\.0\\.0\\.1:${port} \\(WEBHOOK_API_HOST, WEBHOOK_API_PORT\\): .*EADDRINUSE`,
        ),
      )
      expect(second.listening).toBe(false)
    } finally {
      first.close()
    }
  })
})
