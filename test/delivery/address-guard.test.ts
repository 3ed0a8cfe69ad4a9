import type { LookupAddress, LookupOptions } from 'node:dns'
import { describe, expect, it } from 'vitest'
import type { ResolveAll } from '../../src/delivery/address-guard.ts'
import { createTargetGuard, TargetRefusedError } from '../../src/delivery/address-guard.ts'
import type { AddressReason } from '../../src/delivery/addresses.ts'
import { classifyAddress, embeddedIPv4, isPublicAddress, parseCidr } from '../../src/delivery/addresses.ts'
import type { TargetGuard } from '../../src/delivery/http.ts'
import { createHttpClient, TransportError } from '../../src/delivery/http.ts'
import { startReceiver } from '../helpers/receiver.ts'

const NO_PRIVATE = { all: false, cidrs: [] }
const LOCAL = { all: false, cidrs: ['127.0.0.0/8', '::1/128'] }

function guardFor(allow: { all: boolean; cidrs: string[] }, resolve?: ResolveAll): TargetGuard {
  const guard = createTargetGuard(allow, resolve ? { resolve } : {})
  if (!guard) {
    throw new Error('expected a guard')
  }
  return guard
}

type Answer = {
  error: NodeJS.ErrnoException | null
  address: string | LookupAddress[]
  family?: number | undefined
}

/** Calls the guard's lookup the way net.connect does and collects what its callback gets. */
function lookup(guard: TargetGuard, hostname: string, options: LookupOptions = {}): Promise<Answer> {
  return new Promise((resolve) => {
    guard.lookup(hostname, options, (error, address, family) => resolve({ error, address, family }))
  })
}

/** A resolver that answers every name with fixed addresses, standing in for DNS. */
function fakeDns(...addresses: string[]): ResolveAll {
  return (_hostname, _options, callback) => {
    const answer = addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
    queueMicrotask(() => callback(null, answer))
  }
}

describe('classifyAddress', () => {
  it.each<[string, AddressReason | undefined]>([
    // IPv4
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.5', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'cgnat'],
    ['100.127.255.255', 'cgnat'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['192.88.99.1', 'reserved'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    // IPv4 neighbours of the ranges above are public
    ['8.8.8.8', undefined],
    ['1.1.1.1', undefined],
    ['9.255.255.255', undefined],
    ['11.0.0.0', undefined],
    ['100.63.255.255', undefined],
    ['100.128.0.0', undefined],
    ['172.15.255.255', undefined],
    ['172.32.0.0', undefined],
    ['192.0.3.1', undefined],
    ['192.169.0.1', undefined],
    ['198.17.255.255', undefined],
    ['198.20.0.0', undefined],
    ['223.255.255.255', undefined],
    // IPv6
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['100::1', 'discard'],
    ['2001:2::1', 'benchmarking'],
    ['2001:1::1', 'reserved'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'teredo'],
    ['fec0::1', 'reserved'], // deprecated site-local: outside 2000::/3
    ['4000::1', 'reserved'],
    ['1::', 'reserved'],
    ['2606:4700:4700::1111', undefined],
    ['2a00:1450:4001:80b::200e', undefined],
    ['2001:200::1', undefined], // first allocation after the IETF /23
    ['100:0:0:1::1', 'reserved'], // past the discard /64, but still outside 2000::/3
  ])('%s → %s', (ip, reason) => {
    expect(classifyAddress(ip)).toBe(reason)
    expect(isPublicAddress(ip)).toBe(reason === undefined)
  })

  it.each(['example.com', '', '127.1', '1.2.3.04', '::ffff:1.2.3', 'fe80::1::2', '10.0.0.0/8'])(
    'calls %j invalid, not public',
    (text) => {
      expect(classifyAddress(text)).toBe('invalid')
      expect(isPublicAddress(text)).toBe(false)
    },
  )
})

describe('embedded IPv4', () => {
  it.each<[string, string, AddressReason | undefined]>([
    ['::ffff:127.0.0.1', '127.0.0.1', 'loopback'], // IPv4-mapped, dotted
    ['::ffff:7f00:1', '127.0.0.1', 'loopback'], // IPv4-mapped, hex (how URL writes it)
    ['0:0:0:0:0:ffff:a9fe:a9fe', '169.254.169.254', 'link-local'],
    ['::ffff:8.8.8.8', '8.8.8.8', undefined],
    ['::127.0.0.1', '127.0.0.1', 'loopback'], // IPv4-compatible
    ['::7f00:1', '127.0.0.1', 'loopback'],
    ['::0.0.0.2', '0.0.0.2', 'unspecified'],
    ['::8.8.8.8', '8.8.8.8', undefined],
    ['64:ff9b::a00:1', '10.0.0.1', 'private'], // NAT64 well-known prefix
    ['64:ff9b::10.0.0.1', '10.0.0.1', 'private'],
    ['64:ff9b::808:808', '8.8.8.8', undefined],
    ['2002:7f00:1::', '127.0.0.1', 'loopback'], // 6to4: bits 16-47
    ['2002:a9fe:a9fe::1', '169.254.169.254', 'link-local'],
    ['2002:0808:0808::1', '8.8.8.8', undefined],
  ])('%s is judged as %s', (ip, v4, reason) => {
    expect(embeddedIPv4(ip)).toBe(v4)
    expect(classifyAddress(ip)).toBe(reason)
  })

  // Regression: the whole local-use NAT64 range was read with the /96 layout, so 127.0.0.1 behind
  // a /64 translator (64:ff9b:1:0:7f:0:100:0) passed as the public 1.0.0.0.
  it.each([
    '64:ff9b:1::c0a8:101', // 192.168.1.1, /96 layout
    '64:ff9b:1::808:808', // 8.8.8.8, /96 layout: refused too, the layout is not known
    '64:ff9b:1:0:7f:0:100:0', // 127.0.0.1, /64 layout
    '64:ff9b:1:0:a:0:500:0', // 10.0.0.5, /64 layout
    '64:ff9b:1:a00:1::', // 10.0.0.1, /48 layout
  ])('refuses local-use NAT64 %s whatever its layout', (ip) => {
    expect(embeddedIPv4(ip)).toBeUndefined()
    expect(classifyAddress(ip)).toBe('reserved')
  })

  it.each(['::', '::1', '2606:4700:4700::1111', '8.8.8.8', 'example.com'])('%s embeds none', (ip) => {
    expect(embeddedIPv4(ip)).toBeUndefined()
  })

  it('refuses Teredo outright, whatever the IPv4 inside', () => {
    expect(embeddedIPv4('2001:0:4136:e378:8000:63bf:3fff:fdd2')).toBeUndefined()
    expect(classifyAddress('2001::1')).toBe('teredo')
  })
})

describe('parseCidr', () => {
  it.each(['127.0.0.0/8', '::1/128', '0.0.0.0/0', '::/0', 'fd00::/8', '::ffff:10.0.0.0/104', ' 10.0.0.0/8 '])(
    'accepts %j',
    (text) => {
      expect(() => parseCidr(text)).not.toThrow()
    },
  )

  it.each([
    '127.0.0.0',
    '127.0.0.0/33',
    '::1/129',
    '127.0.0.0/-1',
    '127.0.0.0/8/8',
    'localhost/8',
    '10.0/8',
    'fe80::%eth0/64',
    '/8',
    '1.2.3.4/x',
  ])('refuses %j with a message naming it', (text) => {
    expect(() => parseCidr(text)).toThrow(`invalid CIDR "${text}"`)
  })
})

describe('createTargetGuard', () => {
  it('is absent when every target is allowed', () => {
    expect(createTargetGuard({ all: true, cidrs: [] })).toBeUndefined()
    expect(createTargetGuard({ all: true, cidrs: ['127.0.0.0/8'] })).toBeUndefined()
  })

  it('refuses to start with a bad CIDR', () => {
    expect(() => createTargetGuard({ all: false, cidrs: ['127.0.0.0/8', '10.0.0.0/40'] })).toThrow(
      /invalid CIDR "10.0.0.0\/40"/,
    )
  })

  describe('checkHostname', () => {
    const guard = guardFor(NO_PRIVATE)

    it.each<[string, AddressReason]>([
      ['127.0.0.1', 'loopback'],
      ['::1', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:7f00:1', 'loopback'],
      ['169.254.169.254', 'link-local'],
      ['10.1.2.3', 'private'],
      ['0.0.0.0', 'unspecified'],
      ['64:ff9b::a00:1', 'private'],
      ['2002:7f00:1::', 'loopback'],
    ])('refuses %s', (hostname, reason) => {
      let thrown: unknown
      try {
        guard.checkHostname(hostname)
      } catch (error) {
        thrown = error
      }
      expect(thrown).toBeInstanceOf(TargetRefusedError)
      expect(thrown).toMatchObject({ code: 'ERR_TARGET_REFUSED', address: hostname, reason })
      expect((thrown as Error).message).toBe(
        `refused to connect to ${hostname} (${reason} address); set WEBHOOK_ALLOW_PRIVATE_TARGETS to allow it`,
      )
    })

    it.each(['8.8.8.8', '2606:4700:4700::1111', 'example.com', 'localhost'])(
      'lets %s through',
      (hostname) => {
        // Names are not judged here: lookup judges what they resolve to.
        expect(() => guard.checkHostname(hostname)).not.toThrow()
      },
    )

    it.each([
      ['http://127.1/', '127.0.0.1'],
      ['http://0x7f.1/', '127.0.0.1'],
      ['http://2130706433/', '127.0.0.1'],
      ['http://017700000001/', '127.0.0.1'],
      ['http://127.0.0.1./', '127.0.0.1'],
      ['http://0/', '0.0.0.0'],
      ['http://[::ffff:127.0.0.1]/', '[::ffff:7f00:1]'],
    ])('sees odd IPv4 forms after URL normalised them: %s', (url, hostname) => {
      // The http client checks `new URL(url).hostname`, so it never meets the odd form itself.
      const normalised = new URL(url).hostname
      expect(normalised).toBe(hostname)
      expect(() => guard.checkHostname(normalised.replace(/^\[|\]$/g, ''))).toThrow(TargetRefusedError)
    })

    it('lets allowlisted ranges through, and only those', () => {
      const local = guardFor({ all: false, cidrs: ['127.0.0.0/8'] })
      expect(() => local.checkHostname('127.0.0.1')).not.toThrow()
      expect(() => local.checkHostname('127.200.0.1')).not.toThrow()
      // The embedded IPv4 is what gets reached, so the IPv4 allowlist covers its mapped form.
      expect(() => local.checkHostname('::ffff:127.0.0.1')).not.toThrow()
      expect(() => local.checkHostname('::1')).toThrow(/loopback address/)
      expect(() => local.checkHostname('10.0.0.1')).toThrow(/private address/)
      expect(() => local.checkHostname('169.254.169.254')).toThrow(/link-local address/)
    })

    it('allowlists IPv6 ranges', () => {
      const ula = guardFor({ all: false, cidrs: ['fd00::/8', '::1/128'] })
      expect(() => ula.checkHostname('fd12::1')).not.toThrow()
      expect(() => ula.checkHostname('::1')).not.toThrow()
      expect(() => ula.checkHostname('fc00::1')).toThrow(/unique-local address/)
      expect(() => ula.checkHostname('127.0.0.1')).toThrow(/loopback address/)
    })
  })

  describe('lookup', () => {
    it('refuses localhost by default', async () => {
      const answer = await lookup(guardFor(NO_PRIVATE), 'localhost')
      expect(answer.error).toBeInstanceOf(TargetRefusedError)
      expect(answer.error).toMatchObject({
        code: 'ERR_TARGET_REFUSED',
        hostname: 'localhost',
        reason: 'loopback',
      })
      expect(answer.error?.message).toMatch(
        /^refused to connect to (127\.0\.0\.1|::1) \(loopback address\) for host localhost; set WEBHOOK_ALLOW_PRIVATE_TARGETS to allow it$/,
      )
    })

    it('resolves localhost when loopback is allowlisted, in the shape asked for', async () => {
      const guard = guardFor(LOCAL)
      const single = await lookup(guard, 'localhost')
      expect(single.error).toBeNull()
      expect(['127.0.0.1', '::1']).toContain(single.address)
      expect(single.family).toBe(single.address === '::1' ? 6 : 4)

      const all = await lookup(guard, 'localhost', { all: true })
      expect(all.error).toBeNull()
      expect(Array.isArray(all.address)).toBe(true)
      expect(all.address).toContainEqual(expect.objectContaining({ family: expect.any(Number) }))
    })

    it('refuses localhost when only another range is allowlisted', async () => {
      const answer = await lookup(guardFor({ all: false, cidrs: ['10.0.0.0/8'] }), 'localhost')
      expect(answer.error).toMatchObject({ code: 'ERR_TARGET_REFUSED' })
    })

    it('passes resolver errors through', async () => {
      const failing: ResolveAll = (hostname, _options, callback) => {
        const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' })
        queueMicrotask(() => callback(error, []))
      }
      const answer = await lookup(guardFor(NO_PRIVATE, failing), 'nowhere.invalid')
      expect(answer.error).toMatchObject({ code: 'ENOTFOUND' })
    })

    it('asks the resolver for every address, keeping the caller options', async () => {
      const seen: unknown[] = []
      const spy: ResolveAll = (hostname, options, callback) => {
        seen.push({ hostname, options })
        fakeDns('93.184.215.14')(hostname, options, callback)
      }
      await lookup(guardFor(NO_PRIVATE, spy), 'example.com', { family: 4, hints: 32 })
      expect(seen).toEqual([{ hostname: 'example.com', options: { family: 4, hints: 32, all: true } }])
    })

    it('answers a public host in both shapes', async () => {
      const guard = guardFor(NO_PRIVATE, fakeDns('93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'))
      expect(await lookup(guard, 'example.com')).toEqual({ error: null, address: '93.184.215.14', family: 4 })
      expect(await lookup(guard, 'example.com', { all: true })).toEqual({
        error: null,
        address: [
          { address: '93.184.215.14', family: 4 },
          { address: '2606:2800:21f:cb07:6820:80da:af6b:8b2c', family: 6 },
        ],
        family: undefined,
      })
    })

    it.each([
      [['93.184.215.14', '10.0.0.5'], '10.0.0.5', 'private'],
      [['2606:4700:4700::1111', '::ffff:169.254.169.254'], '::ffff:169.254.169.254', 'link-local'],
      [['8.8.8.8', 'fd00::1'], 'fd00::1', 'unique-local'],
    ])('refuses a host when any of %j is not public', async (addresses, address, reason) => {
      for (const all of [false, true]) {
        const answer = await lookup(guardFor(NO_PRIVATE, fakeDns(...addresses)), 'example.com', { all })
        expect(answer.error).toMatchObject({ code: 'ERR_TARGET_REFUSED', address, reason })
        expect(answer.error?.message).toBe(
          `refused to connect to ${address} (${reason} address) for host example.com; set WEBHOOK_ALLOW_PRIVATE_TARGETS to allow it`,
        )
      }
    })

    it('reports an empty answer as not found', async () => {
      const answer = await lookup(guardFor(NO_PRIVATE, fakeDns()), 'example.com')
      expect(answer.error).toMatchObject({ code: 'ENOTFOUND' })
    })
  })
})

describe('the http client with a guard', () => {
  it.each(['127.0.0.1', 'localhost'])('refuses http://%s:PORT/ before anything is sent', async (host) => {
    const receiver = await startReceiver()
    const client = createHttpClient({ timeoutMs: 2000, guard: createTargetGuard(NO_PRIVATE) })
    try {
      const url = new URL(receiver.url('/hook'))
      url.hostname = host
      const error = await client.post(url.toString(), {}, '{}').then(
        () => undefined,
        (thrown: unknown) => thrown,
      )
      expect(error).toBeInstanceOf(TransportError)
      expect(error).toMatchObject({
        code: 'target_refused',
        message: expect.stringMatching(/loopback address/),
      })
      expect(receiver.requests).toEqual([])
    } finally {
      await client.close()
      await receiver.close()
    }
  })

  it.each(['127.0.0.1', 'localhost'])(
    'delivers to http://%s:PORT/ when loopback is allowlisted',
    async (host) => {
      const receiver = await startReceiver()
      const client = createHttpClient({ timeoutMs: 2000, guard: createTargetGuard(LOCAL) })
      try {
        const url = new URL(receiver.url('/hook'))
        url.hostname = host
        const answer = await client.post(url.toString(), {}, '{"ok":true}')
        expect(answer.statusCode).toBe(200)
        expect(receiver.requests.map((request) => request.body)).toEqual(['{"ok":true}'])
      } finally {
        await client.close()
        await receiver.close()
      }
    },
  )
})
