// Why a request to a URL we were given failed, in words an operator acts on: the startup
// self-check (src/doctor.ts) and the log line of a command whose internal application could not be
// reached (src/runners/internal-app.ts) say the same thing.

/** A port that speaks the other scheme's protocol: http:// on 443, https:// on 80 or 8080. */
export function schemeMismatch(url: URL): string | null {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (url.protocol === 'http:' && (port === '443' || port === '8443')) return `port ${port} usually speaks HTTPS: did you mean https://?`;
  if (url.protocol === 'https:' && (port === '80' || port === '8080')) return `port ${port} usually speaks plain HTTP: did you mean http://?`;
  return null;
}

/** Why a fetch to `url` failed, in words an operator acts on (the system's code in brackets). */
export function unreachableReason(url: URL, err: unknown, timeoutMs: number): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const where = `${url.hostname}:${port}`;
  if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return `no answer from ${where} within ${timeoutMs / 1000} s (a firewall dropping the connection, or a server that hangs)`;
  }
  if (code === 'ECONNREFUSED') return `nothing listens on ${where} (ECONNREFUSED)`;
  if (code === 'ENOTFOUND') return `the name ${url.hostname} does not resolve (ENOTFOUND)`;
  if (code === 'EAI_AGAIN') return `the DNS server did not answer for ${url.hostname} (EAI_AGAIN)`;
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return `no route to ${where} (${code})`;
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return `${where} closed the connection (${code})`;
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code)) return `its TLS certificate is not trusted (${code}): give Node your CA with NODE_EXTRA_CA_CERTS`;
  if (/SSL|TLS|EPROTO/.test(code)) return `${where} does not speak TLS as https:// expects (${code})`;
  // Node's fetch refuses the Fetch standard's blocked ports (9, 25, 6000…) before connecting.
  if (cause?.message === 'bad port') return `Node's fetch refuses port ${port} (one of the ports the Fetch standard blocks): serve the application on another`;
  // Never the error's own text: it may quote the URL, credentials and all.
  return code || (err as Error).name || 'the request failed';
}
