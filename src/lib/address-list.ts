// Allow-lists of addresses: who may act as the SSO proxy (TRUSTED_PROXIES), read /metrics
// (METRICS_ALLOW) or call the admin API (ADMIN_ALLOW). IPs and CIDR ranges, IPv4 and IPv6.
import { BlockList, SocketAddress } from 'node:net';

export interface AddressList {
  list: BlockList;
  /** As configured, for logs and error messages. */
  text: string;
}

/**
 * 'ipv4' or 'ipv6' when `address` is one, as the system's inet_pton reads it. Not net.isIP: its
 * regular expression takes 10 ms to compile at first use, every start (docs/performance.md). Only
 * hex digits, dots and colons: libuv ignores whatever follows a '%' (a zone index), so "::1%x 10…"
 * (a missing comma) would otherwise be read as ::1 and quietly widen the list.
 */
function familyOf(address: string): 'ipv4' | 'ipv6' | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(address)) return undefined;
  const family = address.includes(':') ? 'ipv6' : 'ipv4';
  try {
    new SocketAddress({ address, family });
    return family;
  } catch {
    return undefined;
  }
}

/**
 * "127.0.0.1, 10.0.0.0/8, ::1, fd00::/8" → an AddressList. Every bad entry is reported, not only
 * the first: the error's message names them all.
 */
export function parseAddressList(text: string): AddressList {
  const list = new BlockList();
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad: string[] = [];
  for (const entry of entries) {
    const [address = '', prefixText, extra] = entry.split('/');
    const type = familyOf(address);
    if (!type || extra !== undefined) {
      bad.push(`"${entry}" is not an IP address or CIDR range`);
      continue;
    }
    if (prefixText === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const prefix = Number(prefixText);
    const max = type === 'ipv4' ? 32 : 128;
    if (!/^\d+$/.test(prefixText) || prefix > max) {
      bad.push(`"${entry}" has a prefix outside 0-${max}`);
      continue;
    }
    list.addSubnet(address, prefix, type);
  }
  if (bad.length) throw new Error(bad.join('; '));
  return { list, text: entries.join(',') };
}

/** The 16-bit groups of an IPv6 address written any way (`::ffff:1.2.3.4`, `0:0::ffff:102:304`). */
function ipv6Groups(address: string): number[] {
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  const hex = dotted ? `${address.slice(0, dotted.index)}${((+dotted[1]! << 8) | +dotted[2]!).toString(16)}:${((+dotted[3]! << 8) | +dotted[4]!).toString(16)}` : address;
  const [head = '', tail] = hex.split('::');
  const parse = (part: string) => (part ? part.split(':').map((g) => Number.parseInt(g, 16)) : []);
  const before = parse(head);
  const after = tail === undefined ? [] : parse(tail);
  return [...before, ...Array<number>(8 - before.length - after.length).fill(0), ...after];
}

/**
 * How wide an entry is for each family, whatever its notation: an IPv6 range over IPv4-mapped
 * addresses (`::ffff:0:0/96`, `::ffff:0.0.0.0/96`, or anything wider such as `::/0`) admits every
 * IPv4 address it maps, so it counts as that IPv4 prefix too. Undefined: the entry admits none of
 * that family.
 */
function prefixes(entry: string): { ipv4?: number; ipv6?: number } {
  const [address = '', prefixText] = entry.split('/');
  const type = familyOf(address);
  if (!type) return {};
  if (type === 'ipv4') return { ipv4: prefixText === undefined ? 32 : Number(prefixText) };
  const prefix = prefixText === undefined ? 128 : Number(prefixText);
  const groups = ipv6Groups(address);
  // ::ffff:0:0/96 is where IPv4 lives in IPv6; compare the entry's first min(prefix, 96) bits with it.
  const mapped = [0, 0, 0, 0, 0, 0xffff];
  let covers = true;
  for (let bit = 0; bit < Math.min(prefix, 96); bit++) {
    const g = bit >> 4;
    const mask = 0x8000 >> (bit & 15);
    if ((groups[g]! & mask) !== (mapped[g]! & mask)) covers = false;
  }
  return covers ? { ipv6: prefix, ipv4: Math.max(0, prefix - 96) } : { ipv6: prefix };
}

/**
 * Entries wider than an IPv4 /`v4` or an IPv6 /`v6`, in any notation (an IPv4-mapped IPv6 range
 * is measured as the IPv4 range it admits).
 */
export function widerThan(allowed: AddressList, v4: number, v6: number): string[] {
  return allowed.text.split(',').filter(Boolean).filter((entry) => {
    const p = prefixes(entry);
    return (p.ipv4 !== undefined && p.ipv4 < v4) || (p.ipv6 !== undefined && p.ipv6 < v6);
  });
}

export function isAllowed(allowed: AddressList, address: string | undefined): boolean {
  const type = address ? familyOf(address) : undefined;
  return type !== undefined && allowed.list.check(address!, type);
}

/**
 * Who is behind the proxies, for the audit trail. When `peer` is in `trusted`, the right-most
 * address of X-Forwarded-For that is not: each trusted proxy appends the address it saw, so that
 * one was written by a proxy we trust, and everything left of it may have been written by the
 * client. Otherwise the peer. An entry that is not a bare IP address ends the walk at the last
 * address believed (a proxy we trust, or the peer); a header of trusted addresses only gives its
 * left-most.
 */
export function clientAddress(trusted: AddressList, peer: string | undefined, forwardedFor: string | undefined): string | undefined {
  if (!forwardedFor || !isAllowed(trusted, peer)) return peer;
  let client = peer;
  for (const entry of forwardedFor.split(',').reverse()) {
    const address = entry.trim();
    if (!familyOf(address)) return client;
    client = address;
    if (!isAllowed(trusted, address)) return client;
  }
  return client;
}
