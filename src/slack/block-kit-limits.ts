// Slack's Block Kit limits, in one place: Slack refuses a whole message or Home view (invalid_blocks)
// for one field too long, so everything we send is fitted first, and a long answer of the internal
// application is cut where it is safe to cut rather than lost. Limits as Slack's Block Kit reference
// documents them (docs.slack.dev/reference/block-kit/blocks, …/block-elements/button-element).

export const LIMITS = {
  messageBlocks: 50,
  homeBlocks: 100,
  sectionText: 3000,
  sectionField: 2000,
  headerText: 150,
  buttonText: 75,
  actionId: 255,
  url: 3000,
  /** A message's top-level text: Slack truncates beyond it. */
  messageText: 40_000,
} as const;

const CUT = '…';

/**
 * `text` within `max` characters, cut so that the rest still renders: never inside a `<…>` link
 * or mention, an `&…;` entity or a surrogate pair, and marked with an ellipsis.
 */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - CUT.length);
  const open = cut.lastIndexOf('<');
  if (open > cut.lastIndexOf('>')) cut = cut.slice(0, open);
  const amp = cut.lastIndexOf('&');
  if (amp > cut.lastIndexOf(';') && cut.length - amp <= 8) cut = cut.slice(0, amp);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return cut + CUT;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A text object `{type, text}` with its text clipped. */
const clipText = (t: unknown, max: number): unknown => (isObj(t) && typeof t.text === 'string' ? { ...t, text: clip(t.text, max) } : t);

/** An interactive element within limits, or null when it cannot be (a URL too long is not cut: it would lead elsewhere). */
function fitElement(e: unknown): unknown {
  if (!isObj(e)) return e;
  if (typeof e.url === 'string' && e.url.length > LIMITS.url) return null;
  if (typeof e.action_id === 'string' && e.action_id.length > LIMITS.actionId) return null;
  return e.type === 'button' ? { ...e, text: clipText(e.text, LIMITS.buttonText) } : e;
}

function fitBlock(b: unknown): unknown {
  if (!isObj(b)) return b;
  switch (b.type) {
    case 'section': {
      const fitted: Obj = { ...b, text: b.text === undefined ? undefined : clipText(b.text, LIMITS.sectionText) };
      if (Array.isArray(b.fields)) fitted.fields = b.fields.map((f) => clipText(f, LIMITS.sectionField));
      if (b.accessory !== undefined) fitted.accessory = fitElement(b.accessory) ?? undefined;
      for (const k of Object.keys(fitted)) if (fitted[k] === undefined) delete fitted[k];
      return fitted;
    }
    case 'header':
      return { ...b, text: clipText(b.text, LIMITS.headerText) };
    case 'context':
      return Array.isArray(b.elements) ? { ...b, elements: b.elements.map((e) => clipText(e, LIMITS.sectionText)) } : b;
    case 'actions': {
      const elements = Array.isArray(b.elements) ? b.elements.map(fitElement).filter((e) => e !== null) : [];
      return elements.length ? { ...b, elements } : null;
    }
    default:
      return b;
  }
}

/** At most `max` blocks, each within its limits; when some had to go, the last says so. */
export function fitBlocks(blocks: readonly unknown[], max: number): unknown[] {
  const fitted = blocks.map(fitBlock).filter((b) => b !== null);
  if (fitted.length <= max) return fitted;
  return [...fitted.slice(0, max - 1), { type: 'context', elements: [{ type: 'mrkdwn', text: `${fitted.length - max + 1} more blocks not shown: Slack shows at most ${max}.` }] }];
}

/** A message as Slack will take it. */
export const fitMessage = <M extends { text: string; blocks?: unknown[] }>(m: M): M => ({
  ...m,
  text: clip(m.text, LIMITS.messageText),
  ...(m.blocks ? { blocks: fitBlocks(m.blocks, LIMITS.messageBlocks) } : {}),
});

/** What breaks one of the limits, described (empty: Slack will take it). For tests and the self-check. */
export function violations(blocks: readonly unknown[], maxBlocks: number): string[] {
  const found: string[] = [];
  if (blocks.length > maxBlocks) found.push(`${blocks.length} blocks (at most ${maxBlocks})`);
  const long = (what: string, value: unknown, max: number) => {
    if (typeof value === 'string' && value.length > max) found.push(`${what} of ${value.length} characters (at most ${max})`);
  };
  const element = (e: unknown) => {
    if (!isObj(e)) return;
    long('URL', e.url, LIMITS.url);
    long('action_id', e.action_id, LIMITS.actionId);
    if (e.type === 'button' && isObj(e.text)) long('button text', e.text.text, LIMITS.buttonText);
  };
  for (const b of blocks) {
    if (!isObj(b)) continue;
    if (b.type === 'section' && isObj(b.text)) long('section text', b.text.text, LIMITS.sectionText);
    if (b.type === 'section' && Array.isArray(b.fields)) for (const f of b.fields) if (isObj(f)) long('section field', f.text, LIMITS.sectionField);
    if (b.type === 'section') element(b.accessory);
    if (b.type === 'header' && isObj(b.text)) long('header text', b.text.text, LIMITS.headerText);
    if (b.type === 'context' && Array.isArray(b.elements)) for (const e of b.elements) if (isObj(e)) long('context text', e.text, LIMITS.sectionText);
    if (b.type === 'actions' && Array.isArray(b.elements)) for (const e of b.elements) element(e);
  }
  return found;
}
