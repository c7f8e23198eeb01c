// JSON from outside (Slack, the internal application, a proxy's key set, a JWT): only ever a
// plain object is accepted where an object is expected.

export type JsonObject = Record<string, unknown>;

/** The object `text` holds, or undefined for invalid JSON and for anything but a plain object. */
export function parseJsonObject(text: string): JsonObject | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A fetch Response's body as text, refusing more than `limit` bytes: by Content-Length before
 * reading, or as soon as the stream passes the limit. Undefined when too large.
 */
export async function readLimitedText(res: Response, limit: number): Promise<string | undefined> {
  if (Number(res.headers.get('content-length')) > limit) {
    await res.body?.cancel();
    return undefined;
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
