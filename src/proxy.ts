// Who may tell us who the user is: only the SSO proxy, identified by its address, and only through
// one header. Everything else about identity on /associate goes through here.
import { BlockList, isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { HttpError } from './http.ts';

export interface TrustedProxies {
  list: BlockList;
  /** As configured, for logs and error messages. */
  text: string;
}

/** "127.0.0.1, 10.0.0.0/8, ::1, fd00::/8" → a BlockList. Throws with the offending entry. */
export function parseTrustedProxies(text: string): TrustedProxies {
  const list = new BlockList();
  const entries = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const entry of entries) {
    const [address = '', prefixText, extra] = entry.split('/');
    const family = isIP(address);
    if (!family || extra !== undefined) throw new Error(`"${entry}" is not an IP address or CIDR range`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefixText === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const prefix = Number(prefixText);
    const max = family === 4 ? 32 : 128;
    if (!/^\d+$/.test(prefixText) || prefix > max) throw new Error(`"${entry}" has a prefix outside 0-${max}`);
    list.addSubnet(address, prefix, type);
  }
  return { list, text: entries.join(',') };
}

export function isTrustedProxy(proxies: TrustedProxies, address: string | undefined): boolean {
  if (!address) return false;
  const family = isIP(address);
  if (!family) return false;
  return proxies.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

const MAX_USER_LENGTH = 256;
// Printable characters only: a control character in an identity is an attack or a broken proxy.
const PRINTABLE = /^[^\x00-\x1f\x7f]+$/;

/**
 * The internal user the SSO proxy vouches for. 403 when the request did not come from a trusted
 * proxy (the header means nothing then), 401 when the proxy did not name a user, 400 when the
 * header is repeated or unreadable (a proxy that appends instead of overwriting must not let the
 * client choose which value wins).
 */
export function trustedUser(req: IncomingMessage, proxies: TrustedProxies, header: string): string {
  if (!isTrustedProxy(proxies, req.socket.remoteAddress)) {
    throw new HttpError(403, 'This page must be reached through the company sign-in proxy.');
  }
  const values = req.headersDistinct[header] ?? [];
  if (values.length > 1) throw new HttpError(400, 'The sign-in proxy sent more than one user; ask your administrator to check its configuration.');
  const user = (values[0] ?? '').trim();
  if (!user) throw new HttpError(401, 'The sign-in proxy did not say who you are. Sign in and open the link again.');
  if (user.length > MAX_USER_LENGTH || !PRINTABLE.test(user)) {
    throw new HttpError(400, 'The sign-in proxy sent a user name this service cannot accept.');
  }
  return user;
}
