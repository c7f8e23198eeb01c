// POST /slack/commands: verify → parse → look up the binding → dispatch the subcommand.
import type { IncomingMessage } from 'node:http';
import { HttpError, describe, json, mediaType, parseForm, readBody, type Context, type Reply, type Route } from '../http.ts';
import { verifySlackRequest, type Verdict } from './verify.ts';
import { parseSlashCommand, type SlashCommand } from './payload.ts';
import * as messages from './messages.ts';
import { newNonce, hashNonce } from '../tokens.ts';
import type { Services } from '../services.ts';
import type { Binding } from '../store.ts';
import { createRateLimiter } from '../rate-limit.ts';
import type { AnnounceBinding } from '../bound.ts';
import type { CommandAnswerer } from '../run-command.ts';
import { BUILTIN_COMMANDS } from '../builtin-app.ts';
import { MAX_CODE_FAILURES, codeKey, codeMatches, describeVerification } from '../verification.ts';

/** Slack's payloads are a few KiB; anything near this is not from Slack. */
export const MAX_COMMAND_BODY = 64 * 1024;

/** Slack's signature check for a request as it arrived: its two headers, its raw body, now. */
export const verifyCommandRequest = (req: IncomingMessage, rawBody: Buffer, signingSecret: string): Verdict =>
  verifySlackRequest({
    signingSecret,
    timestamp: req.headers['x-slack-request-timestamp'] as string | undefined,
    signature: req.headers['x-slack-signature'] as string | undefined,
    rawBody,
    nowSeconds: Math.floor(Date.now() / 1000),
  });

export function commandsRoute(services: Services, answerer: CommandAnswerer, announce: AnnounceBinding): Route {
  const { config, log } = services;
  const dispatch = subcommands(services, answerer, announce);

  return {
    async POST(ctx) {
      const body = await readBody(ctx.req, MAX_COMMAND_BODY);
      const verdict = verifyCommandRequest(ctx.req, body, config.signingSecret);
      if (!verdict.ok) {
        log.warn('slack_signature_rejected', { request_id: ctx.requestId, reason: verdict.reason });
        services.metrics.inc('slack_signature_failures_total');
        throw new HttpError(401, 'Invalid Slack request signature.');
      }
      if (mediaType(ctx.req) !== 'application/x-www-form-urlencoded') {
        throw new HttpError(415, 'Slash commands are sent as application/x-www-form-urlencoded.');
      }
      const form = parseForm(body);
      // Slack checks our certificate with this; it expects a 200 and nothing else.
      if (form.get('ssl_check') === '1') return { status: 200 };
      const cmd = parseSlashCommand(form);
      ctx.logFields.slack_team = cmd.user.teamId;
      ctx.logFields.slack_user = cmd.user.userId;
      try {
        return await dispatch(ctx, cmd);
      } catch (err) {
        ctx.logFields.outcome = 'error';
        // Slack shows a non-200 as a bare "failed with the error …"; an apology with a request id
        // is something the user can act on and quote to an administrator.
        log.error('command_failed', { request_id: ctx.requestId, slack_user: cmd.user.userId, error: describe(err) });
        return json(200, messages.apology(ctx.requestId));
      } finally {
        services.metrics.inc('slack_commands_total', { outcome: String(ctx.logFields.outcome ?? 'unknown') });
      }
    },
  };
}

function subcommands(services: Services, answerer: CommandAnswerer, announce: AnnounceBinding) {
  const { config, store } = services;
  const ttlMs = config.nonceTtlSeconds * 1000;
  const codeMode = config.linkVerification === 'code';
  const codeKeyBytes = codeKey(store);

  /** code mode: the Slack user types the code their browser showed them. */
  const confirmCode = (ctx: Context, cmd: SlashCommand, code: string | undefined): Reply => {
    if (!code) return json(200, messages.codeOutcome(cmd.command, 'usage'));
    const result = store.confirmCode(cmd.user, codeMatches(codeKeyBytes, cmd.user, code), Date.now(), MAX_CODE_FAILURES);
    ctx.logFields.outcome = `code_${result.outcome}`;
    switch (result.outcome) {
      case 'bound':
        announce(result.binding, result.link, ctx.requestId);
        return bound(ctx, result.binding, 'code_bound', messages.linkedReply(result.binding));
      case 'already-bound':
        return bound(ctx, result.binding, 'already_linked', messages.alreadyLinked(cmd.command, result.binding));
      case 'wrong':
        return json(200, messages.codeOutcome(cmd.command, 'wrong', result.attemptsLeft));
      default:
        if (result.outcome === 'void') services.log.warn('security_code_attempts_exhausted', { request_id: ctx.requestId, slack_user: cmd.user.userId });
        return json(200, messages.codeOutcome(cmd.command, result.outcome));
    }
  };

  const linkLimit = createRateLimiter(config.linkRateLimitPerMinute);

  const startLinking = async (ctx: Context, cmd: SlashCommand, reason: string, pendingText: string | null = null): Promise<Reply> => {
    if (!linkLimit.allow(`${cmd.user.org}\0${cmd.user.userId}`)) {
      ctx.logFields.outcome = 'link_rate_limited';
      return json(200, messages.tooManyLinks(config.linkRateLimitPerMinute));
    }
    const nonce = newNonce();
    await store.createLink(
      cmd.user,
      { command: cmd.command, pendingText, channelId: cmd.channelId, responseUrl: cmd.responseUrl },
      hashNonce(nonce)!,
      Date.now(),
      ttlMs,
    );
    ctx.logFields.outcome = 'link_created';
    services.metrics.inc('links_created_total');
    const url = `${config.publicBaseUrl}/associate?nonce=${nonce}`;
    return json(200, messages.linkPrompt(url, reason, config.nonceTtlSeconds));
  };

  const bound = (ctx: Context, binding: Binding, outcome: string, message: messages.SlackMessage): Reply => {
    ctx.logFields.internal_user = binding.internalUser;
    ctx.logFields.outcome = outcome;
    return json(200, message);
  };

  const helpOptions = (command: string): messages.HelpOptions => ({
    verification: describeVerification(config.linkVerification, command),
    withConfirm: codeMode,
    builtins: config.internalApp ? null : BUILTIN_COMMANDS,
  });

  return (ctx: Context, cmd: SlashCommand): Reply | Promise<Reply> => {
    const [word = '', arg] = cmd.text.split(/\s+/, 2);
    const sub = word.toLowerCase();
    const binding = store.getBinding(cmd.user);

    if (sub === '' || sub === 'help') {
      ctx.logFields.outcome = 'help';
      return json(200, messages.help(cmd.command, binding, helpOptions(cmd.command)));
    }
    if (codeMode && sub === 'confirm' && !binding) return confirmCode(ctx, cmd, arg);
    if (!binding) {
      switch (sub) {
        case 'link':
          return startLinking(ctx, cmd, 'Link your Slack user to your account.');
        case 'whoami':
          return startLinking(ctx, cmd, 'You are not linked to an account yet.');
        case 'unlink':
          return startLinking(ctx, cmd, 'You are not linked to an account, so there is nothing to unlink.');
        default:
          return startLinking(ctx, cmd, `To run \`${cmd.command} ${word}\` as yourself, link your account first.`, cmd.text);
      }
    }
    switch (sub) {
      case 'whoami':
        return bound(ctx, binding, 'whoami', messages.whoami(binding));
      case 'link':
        return bound(ctx, binding, 'already_linked', messages.alreadyLinked(cmd.command, binding));
      case 'unlink': {
        const removed = store.removeBinding(cmd.user);
        return bound(ctx, binding, 'unlinked', messages.unlinked(cmd.command, removed ?? binding));
      }
      default:
        ctx.logFields.internal_user = binding.internalUser;
        return answerer.answer(ctx, binding, cmd);
    }
  };
}
