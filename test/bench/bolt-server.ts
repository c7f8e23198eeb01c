// What a Slack developer would pick instead: @slack/bolt with its default HTTPReceiver and a
// command listener that acks with the same reply. authorize is stubbed so that no network is used.
import bolt from '@slack/bolt';

const app = new bolt.App({
  signingSecret: process.env.SLACK_SIGNING_SECRET!,
  authorize: async () => ({ botToken: 'xoxb-bench', botId: 'B0BENCH', botUserId: 'U0BENCH' }),
  endpoints: '/slack/commands',
  logLevel: bolt.LogLevel.ERROR,
});
app.command('/acct', async ({ ack }) => {
  await ack({ response_type: 'ephemeral', text: 'You are linked to alice.' });
});
await app.start(Number(process.env.PORT));
console.log('listening');
