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

export function isAllowed(allowed: AddressList, address: string | undefined): boolean {
  const type = address ? familyOf(address) : undefined;
  return type !== undefined && allowed.list.check(address!, type);
}
