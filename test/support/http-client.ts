// A plain HTTP client for tests: node:http, so that the source address, every header and the raw
// body are exactly what the test says (fetch adds headers of its own).
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';

export interface TestResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface TestRequest {
  method?: string;
  /** A header set to undefined is not sent (to drop one a helper adds). */
  headers?: Record<string, string | string[] | undefined>;
  body?: string | Buffer;
  /** Source address, e.g. 127.0.0.2 to come from outside TRUSTED_PROXIES. */
  localAddress?: string;
}

export function request(url: string, opts: TestRequest = {}): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined;
    const chunks: Buffer[] = [];
    const answered = () => resolve({ status: response!.statusCode!, headers: response!.headers, body: Buffer.concat(chunks).toString('utf8') });
    // A server that refuses a body by its Content-Length (413) answers and closes while a large body
    // is still being written: the write then fails (EPIPE, ECONNRESET), but the answer has arrived,
    // and the answer is what a test asserts.
    const failed = (err: Error) => (response ? answered() : reject(err));
    const req = httpRequest(
      url,
      { method: opts.method ?? 'GET', headers: definedOnly(opts.headers ?? {}), localAddress: opts.localAddress, agent: false },
      (res) => {
        response = res;
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', answered);
        res.on('error', failed);
      },
    );
    req.on('error', failed);
    // The body as bytes: with a string body Node writes the headers in the body's encoding (UTF-8),
    // which would re-encode header bytes a test sets as Latin-1 on purpose.
    req.end(typeof opts.body === 'string' ? Buffer.from(opts.body) : opts.body);
  });
}

export const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

const definedOnly = (headers: Record<string, string | string[] | undefined>) =>
  Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string | string[]>;
