// The floor: a bare node:http server that does only what any correct implementation must do for
// a slash command: read the body, verify Slack's signature, send a fixed JSON reply.
import { FIXED_REPLY, serveVerified } from './floor-common.ts';

serveVerified((_body, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(FIXED_REPLY));
