import { BlockList, isIP } from 'node:net'
import { WebhookError } from '../errors.ts'

/**
 * What kind of address an IP is (IANA special-purpose registries, RFC 6890 and successors): pure
 * functions of the text, used by the connect-time guard (address-guard.ts) and the configuration.
 * Ranges are matched with node:net's BlockList; an IPv6 address that carries an IPv4 one is
 * judged as that IPv4 address.
 */

/** Why an address is not public. */
export type AddressReason =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'link-local'
  | 'unique-local'
  | 'multicast'
  | 'broadcast'
  | 'reserved'
  | 'documentation'
  | 'benchmarking'
  | 'discard'
  | 'teredo'
  | 'invalid'

type Family = 'ipv4' | 'ipv6'
const WIDTH = { ipv4: 32, ipv6: 128 } as const

/** A parsed CIDR: its address, prefix length and family. */
export type Cidr = { address: string; prefix: number; family: Family }

/** Parses `address/prefix`; throws INVALID_ARGUMENT naming the offending text. */
export function parseCidr(text: string): Cidr {
  const [address = '', prefixText, extra] = text.trim().split('/')
  const family = address.includes('%') ? undefined : familyOf(address)
  if (!family || prefixText === undefined || extra !== undefined || !/^\d{1,3}$/.test(prefixText)) {
    throw invalidCidr(text, 'expected an IPv4 or IPv6 address, a slash and a prefix length')
  }
  const prefix = Number(prefixText)
  if (prefix > WIDTH[family]) {
    throw invalidCidr(text, `prefix length ${prefix} exceeds ${WIDTH[family]}`)
  }
  // Host bits are ignored (10.1.2.3/8 means 10.0.0.0/8), as BlockList.addSubnet does.
  return { address, prefix, family }
}

function invalidCidr(text: string, why: string): WebhookError {
  return new WebhookError('INVALID_ARGUMENT', `invalid CIDR "${text}": ${why}`)
}

/**
 * A set of CIDRs, each matching addresses of its own family only: BlockList alone would also
 * match an IPv4 address against an IPv4-mapped IPv6 range, and the reverse.
 */
export type CidrSet = { has(ip: string): boolean }

export function cidrSet(cidrs: readonly (string | Cidr)[]): CidrSet {
  const lists = { ipv4: new BlockList(), ipv6: new BlockList() }
  for (const cidr of cidrs) {
    const { address, prefix, family } = typeof cidr === 'string' ? parseCidr(cidr) : cidr
    lists[family].addSubnet(address, prefix, family)
  }
  return {
    has(ip) {
      const address = withoutZone(ip)
      const family = familyOf(address)
      return family !== undefined && lists[family].check(address, family)
    },
  }
}

function familyOf(ip: string): Family | undefined {
  const family = isIP(ip)
  return family === 4 ? 'ipv4' : family === 6 ? 'ipv6' : undefined
}

type Rule = { range: CidrSet; reason: AddressReason }

function rules(table: ReadonlyArray<readonly [string, AddressReason]>): Rule[] {
  return table.map(([cidr, reason]) => ({ range: cidrSet([cidr]), reason }))
}

// First match wins, so a narrower range is listed before a wider one that contains it.
const IPV4_RULES = rules([
  ['0.0.0.0/8', 'unspecified'], // "this network"; Linux connects 0.0.0.0 to the local host
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'], // includes the cloud metadata service 169.254.169.254
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'], // deprecated 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
])

const IPV6_RULES = rules([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['100::/64', 'discard'],
  ['2001::/32', 'teredo'], // the IPv4 inside is obfuscated and relayed: refuse, never unwrap
  ['2001:2::/48', 'benchmarking'],
  // Local-use NAT64 (RFC 8215): where its IPv4 sits depends on the translator's prefix length
  // (/48 to /96, RFC 6052), which a URL does not say, so no one reading is safe (64:ff9b:1:0:7f::
  // is 127.0.0.1 behind a /64 translator). Not globally reachable; allow it by CIDR if trusted.
  ['64:ff9b:1::/48', 'reserved'],
  ['2001::/23', 'reserved'], // IETF protocol assignments; holds no ordinary hosts
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['fc00::/7', 'unique-local'],
  ['fe80::/10', 'link-local'],
  ['ff00::/8', 'multicast'],
])

const GLOBAL_UNICAST = cidrSet(['2000::/3'])

/**
 * IPv6 ranges that carry an IPv4 address, and where: a packet to one of them ends up at (or is
 * translated for) that IPv4 host, so it is judged as that IPv4 address.
 */
const EMBEDDING: ReadonlyArray<{ range: CidrSet; shift: bigint }> = [
  { range: cidrSet(['::ffff:0:0/96']), shift: 0n }, // IPv4-mapped
  { range: cidrSet(['64:ff9b::/96']), shift: 0n }, // NAT64 well-known prefix
  { range: cidrSet(['2002::/16']), shift: 80n }, // 6to4: the IPv4 is bits 16-47
  // IPv4-compatible (deprecated); :: and ::1 are not of this kind (see embeddedIPv4).
  { range: cidrSet(['::/96']), shift: 0n },
]

/** The address without a zone (fe80::1%eth0): the zone only selects an interface. */
function withoutZone(ip: string): string {
  return ip.split('%', 1)[0] ?? ''
}

/** The IPv4 address an IPv6 address embeds (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIPv4(ip: string): string | undefined {
  const address = withoutZone(ip)
  // An address with its own rule (::, ::1) is judged by it and embeds nothing, which also keeps
  // an IPv4 allowlist entry such as 0.0.0.0/8 from letting ::1 through.
  if (familyOf(address) !== 'ipv6' || IPV6_RULES.some(({ range }) => range.has(address))) {
    return undefined
  }
  const found = EMBEDDING.find(({ range }) => range.has(address))
  return found ? integerToIPv4((ipv6ToInteger(address) >> found.shift) & 0xffffffffn) : undefined
}

/** Why `ip` is not a public address, or undefined when it is. Text that is not an IP is 'invalid'. */
export function classifyAddress(ip: string): AddressReason | undefined {
  const address = withoutZone(ip)
  const family = familyOf(address)
  if (family === undefined) {
    return 'invalid'
  }
  if (family === 'ipv4') {
    return IPV4_RULES.find(({ range }) => range.has(address))?.reason
  }
  const listed = IPV6_RULES.find(({ range }) => range.has(address))
  if (listed) {
    return listed.reason
  }
  const v4 = embeddedIPv4(address)
  if (v4 !== undefined) {
    return classifyAddress(v4)
  }
  return GLOBAL_UNICAST.has(address) ? undefined : 'reserved'
}

export function isPublicAddress(ip: string): boolean {
  return classifyAddress(ip) === undefined
}

/** Only called on text isIP accepted, so the four parts are decimal octets. */
function ipv4ToInteger(ip: string): bigint {
  return ip.split('.').reduce((value, octet) => (value << 8n) | BigInt(Number(octet)), 0n)
}

/** Only called on text isIP accepted: at most one `::`, hex groups, maybe a dotted IPv4 tail. */
function ipv6ToInteger(ip: string): bigint {
  let text = ip
  const tailStart = text.lastIndexOf(':') + 1
  if (text.includes('.', tailStart)) {
    // Rewrite the dotted tail (::ffff:1.2.3.4) as the two hex groups it stands for.
    const v4 = ipv4ToInteger(text.slice(tailStart))
    text = `${text.slice(0, tailStart)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`
  }
  const [head = '', tail] = text.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = tail === undefined ? [] : Array(8 - headGroups.length - tailGroups.length).fill('0')
  return [...headGroups, ...zeros, ...tailGroups].reduce(
    (value, group) => (value << 16n) | BigInt(Number.parseInt(group, 16)),
    0n,
  )
}

function integerToIPv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => Number((value >> shift) & 0xffn)).join('.')
}
