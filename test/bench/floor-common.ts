// What both floors do before their own work: read the body, verify Slack's signature (401 when it
// is not valid and fresh), on PORT. bare-server.ts adds a fixed reply; floor-sqlite-server.ts a read.
import { createServer, type ServerResponse } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

const secret = process.env.SLACK_SIGNING_SECRET!;
export const FIXED_REPLY = JSON.stringify({ response_type: 'ephemeral', text: 'You are linked to alice.' });

/** Listens on PORT; `handle` gets each body whose Slack signature is valid and fresh (else 401). */
export function serveVerified(handle: (body: Buffer, res: ServerResponse) => void): void {
  createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const ts = String(req.headers['x-slack-request-timestamp']);
      const given = Buffer.from(String(req.headers['x-slack-signature']));
      const expected = Buffer.from(`v0=${createHmac('sha256', secret).update(`v0:${ts}:`).update(body).digest('hex')}`);
      const fresh = Math.abs(Date.now() / 1000 - Number(ts)) <= 300;
      if (!fresh || given.length !== expected.length || !timingSafeEqual(given, expected)) {
        res.writeHead(401).end();
        return;
      }
      handle(body, res);
    });
  }).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
  process.on('SIGTERM', () => process.exit(0));
}
