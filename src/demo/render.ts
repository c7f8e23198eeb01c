// How Slack and a browser would show what the server answered, as terminal text.
import type { SlackMessage } from '../slack/messages.ts';

/** mrkdwn → plain text: links as "label (url)", dates by their fallback, entities decoded. */
export function plain(mrkdwn: string): string {
  return mrkdwn
    .replace(/<!date\^[^|>]*\|([^>]*)>/g, '$1')
    .replace(/<([^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

export function slackMessage(message: SlackMessage): string[] {
  const lines: string[] = [];
  for (const block of (message.blocks ?? []) as any[]) {
    if (block.type === 'header') lines.push(`# ${block.text.text}`);
    if (block.type === 'section' && block.text) lines.push(...plain(block.text.text).split('\n'));
    if (block.type === 'section' && block.fields) lines.push(block.fields.map((f: any) => plain(f.text).replace('\n', ': ')).join(' | '));
    if (block.type === 'context') lines.push(...block.elements.map((e: any) => `  (${plain(e.text ?? '')})`));
    if (block.type === 'actions') {
      for (const e of block.elements) if (e.type === 'button') lines.push(`[ ${e.text.text} ] → ${e.url ?? e.value ?? ''}`);
    }
  }
  return lines.length ? lines : plain(message.text).split('\n');
}

/** The visible text of one of our pages: its <main>, tags dropped, entities decoded. */
export function htmlPage(html: string): string[] {
  const main = /<main>([\s\S]*)<\/main>/.exec(html)?.[1] ?? html;
  return main
    .replace(/<button[^>]*>([^<]*)<\/button>/g, '[ $1 ] ')
    .replace(/<h1>([^<]*)<\/h1>/g, '# $1\n')
    .replace(/<\/p>|<br>/g, '\n')
    .replace(/<[^>]+>/g, '')
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .split('\n')
    .map((l) => l.trim().replace(/\s+/g, ' '))
    .filter(Boolean);
}
