// Reading the environment: every reader of a section of the configuration goes through one Reader,
// which collects every problem (and every warning) instead of stopping at the first, so that an
// operator fixes them all in one go instead of one restart per typo.
import { readFileSync } from 'node:fs';
import { parseAddressList, type AddressList } from '../lib/address-list.ts';

export type Env = Record<string, string | undefined>;

/** A URL as it may be shown in a log or an error: never its user name, password or query values. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'a value that is not a URL (not shown: it may hold credentials)';
  }
  const hidden = Boolean(url.username || url.password || url.search);
  url.username = '';
  url.password = '';
  // Query values are often keys (?api_key=…): the names stay, to say which one it is.
  const query = url.search ? `?${[...url.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=…`).join('&')}` : '';
  url.search = '';
  url.hash = '';
  // An '@' left over (an opaque "postgres:user:pw@host") may still be a password.
  if (url.href.includes('@')) return `${url.protocol}… (not shown: it may hold credentials)`;
  return hidden ? `${url.href}${query} (credentials removed)` : url.href;
}

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;
const LOOPBACK = '127.0.0.1,::1';

export class Reader {
  readonly env: Env;
  readonly problems: string[] = [];
  readonly warnings: string[] = [];

  constructor(env: Env) {
    this.env = env;
  }

  problem(message: string): void {
    this.problems.push(message);
  }

  warn(message: string): void {
    this.warnings.push(message);
  }

  /** NAME or NAME_FILE (the Docker-secrets convention), never both: two sources would hide a mistake. */
  secret(name: string, required = true, requiredWhy = ''): string {
    const direct = this.env[name];
    const file = this.env[`${name}_FILE`];
    if (direct && file) {
      this.problem(`${name} and ${name}_FILE are both set; set only one`);
      return '';
    }
    if (file) {
      try {
        const value = readFileSync(file, 'utf8').trim();
        if (!value) this.problem(`${name}_FILE (${file}) is empty`);
        return value;
      } catch (err) {
        this.problem(`${name}_FILE (${file}) cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
        return '';
      }
    }
    if (!direct && required) this.problem(`${name} is required (or ${name}_FILE)${requiredWhy}`);
    return direct ?? '';
  }

  /** A whole number within bounds; the fallback when unset. */
  integer(name: string, fallback: number, min: number, max: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value < min || value > max) {
      this.problem(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  }

  /** An http(s) URL without credentials (a password in a URL ends up in logs and process listings). */
  httpUrl(name: string, raw: string): URL | undefined {
    let url: URL | undefined;
    try {
      url = new URL(raw);
    } catch {
      // reported below
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      this.problem(`${name} must be an http(s) URL (got "${redactUrl(raw)}")`);
      return undefined;
    }
    if (url.username || url.password) {
      this.problem(`${name} must not hold a user name or password (got "${redactUrl(raw)}"); pass credentials through the matching token setting`);
      return undefined;
    }
    return url;
  }

  /** A header name, lower-cased as Node gives them. */
  headerName(name: string, fallback: string): string {
    const value = (this.env[name] || fallback).toLowerCase();
    if (!HEADER_NAME.test(value)) this.problem(`${name} is not a valid header name`);
    return value;
  }

  /** A list of IPs and CIDR ranges, loopback only by default. */
  addresses(name: string): AddressList {
    try {
      return parseAddressList(this.env[name] ?? LOOPBACK);
    } catch (err) {
      this.problem(`${name}: ${(err as Error).message}`);
      return parseAddressList(LOOPBACK);
    }
  }
}
