// The floor: a bare node:http server that does only what any correct implementation must do for
// a slash command: read the body, verify Slack's signature, send a fixed JSON reply.
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';

const secret = process.env.SLACK_SIGNING_SECRET!;
const reply = JSON.stringify({ response_type: 'ephemeral', text: 'You are linked to alice.' });

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
    res.writeHead(200, { 'content-type': 'application/json' }).end(reply);
  });
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
