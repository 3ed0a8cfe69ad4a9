import { createHmac } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { describe, expect, it } from 'vitest'
import { renderBody } from '../../src/delivery/body.ts'
import {
  generateSecret,
  imtegrateSignature,
  signatureHeaders,
  standardSignature,
} from '../../src/delivery/sign.ts'

const secret = generateSecret()
const body = renderBody({
  type: 'video.failed',
  created_at: new Date('2026-05-04T10:01:23.456Z'),
  data: { id: 'vid_1', status: 'failed', result_url: null, template_id: 'tpl_abc', duration_ms: 12 },
})

describe('renderBody', () => {
  it('writes type, created_at to the second in UTC, and data, in that order', () => {
    expect(body).toBe(
      '{"type":"video.failed","created_at":"2026-05-04T10:01:23Z","data":{"id":"vid_1","status":"failed","result_url":null,"template_id":"tpl_abc","duration_ms":12}}',
    )
  })
})

describe('secrets', () => {
  it('are whsec_ and 32 random bytes in base64', () => {
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32)
    expect(generateSecret()).not.toBe(secret)
  })
})

describe('signatures', () => {
  it('X-Imtegrate-Signature is the hex HMAC-SHA256 of the raw body keyed by the secret string', () => {
    expect(imtegrateSignature(secret, body)).toBe(createHmac('sha256', secret).update(body).digest('hex'))
  })

  it('webhook-signature verifies with the standardwebhooks library', () => {
    const timestamp = Math.floor(Date.now() / 1000)
    const headers = signatureHeaders({ current: secret }, 'dlv_1', timestamp, body)
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body))
    expect(headers['webhook-signature']).toBe(standardSignature(secret, 'dlv_1', timestamp, body))
  })

  it('during a rotation carries one signature per valid secret, each verifiable alone', () => {
    const previous = generateSecret()
    const timestamp = Math.floor(Date.now() / 1000)
    const headers = signatureHeaders({ current: secret, previous }, 'dlv_2', timestamp, body)
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2)
    expect(new Webhook(previous).verify(body, headers)).toEqual(JSON.parse(body))
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body))
    expect(headers['x-imtegrate-signature']).toBe(imtegrateSignature(secret, body))
    expect(() => new Webhook(generateSecret()).verify(body, headers)).toThrow()
  })

  it('a stale timestamp is refused by standard verifiers, so replays can be detected', () => {
    const old = Math.floor(Date.now() / 1000) - 3600
    expect(() =>
      new Webhook(secret).verify(body, signatureHeaders({ current: secret }, 'dlv_3', old, body)),
    ).toThrow(/timestamp/i)
  })
})
