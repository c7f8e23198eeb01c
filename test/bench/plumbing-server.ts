// The bare server's work (read the body, verify the signature, a fixed JSON reply) done through
// this project's own HTTP plumbing (src/http.ts: routing table, request ids, error mapping, the
// JSON request log): what that plumbing costs, apart from the lookup and everything after it.
import { createHttpServer, handled, json, readBody } from '../../src/http.ts';
import { refusal } from '../../src/refusals.ts';
import { createLogger } from '../../src/lib/log.ts';
import { MAX_COMMAND_BODY } from '../../src/routes/commands.ts';
import { verifySlackSignature } from '../../src/routes/slack-guard.ts';

const signingSecret = process.env.SLACK_SIGNING_SECRET!;
const reply = { response_type: 'ephemeral', text: 'You are linked to alice.' };

createHttpServer({
  log: createLogger(),
  onOutcome() {},
  routes: {
    '/slack/commands': {
      operation: 'commands',
      async POST(ctx) {
        const rawBody = await readBody(ctx.req, MAX_COMMAND_BODY);
        const verdict = verifySlackSignature(ctx.req, rawBody, signingSecret);
        if (!verdict.ok) throw refusal('slack_signature_invalid');
        return handled('whoami', json(200, reply));
      },
    },
  },
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
