/**
 * bench/RESULTS.md holds several runners' output: `npm run bench` writes the file (token
 * service); `npm run bench:gateway`, `npm run bench:revocation` and `npm run bench:policy` each
 * write their own section between `<!-- NAME:start -->` and `<!-- NAME:end -->`. Each keeps the
 * others' parts.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './servers.js';

export const RESULTS_FILE = join(ROOT, 'bench', 'RESULTS.md');

/** The runners that own a marked section of the file. */
export type SectionName = 'gateway' | 'revocation' | 'policy';
const SECTIONS: readonly SectionName[] = ['gateway', 'revocation', 'policy'];

const markers = (name: SectionName) => [`<!-- ${name}:start -->`, `<!-- ${name}:end -->`] as const;

function current(): string {
  return existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : '';
}

/** A section of `text`, markers included, or undefined when it has none (or a broken one). */
export function section(text: string, name: SectionName): string | undefined {
  const [open, close] = markers(name);
  const start = text.indexOf(open);
  const end = text.indexOf(close, start);
  return start < 0 || end < 0 ? undefined : text.slice(start, end + close.length);
}

/** `text` with a section replaced by `content` (markers included), or `content` appended. */
export function withSection(text: string, name: SectionName, content: string): string {
  const old = section(text, name);
  if (old !== undefined) return text.replace(old, () => content);
  const body = text.trimEnd();
  return `${body === '' ? '' : `${body}\n\n`}${content}\n`;
}

/** Rewrites the token service results, carrying over every marked section the file already has. */
export function writeTokenResults(markdown: string): void {
  const old = current();
  let text = markdown;
  for (const name of SECTIONS) {
    const kept = section(old, name);
    if (kept !== undefined) text = withSection(text, name, kept);
  }
  writeFileSync(RESULTS_FILE, text);
}

/** Writes one runner's section (its body, without markers), leaving the rest as it is. */
export function writeSection(name: SectionName, body: string): void {
  const [open, close] = markers(name);
  writeFileSync(RESULTS_FILE, withSection(current(), name, `${open}\n${body.trim()}\n${close}`));
}

/** The gateway runner's section. */
export function writeGatewayResults(body: string): void {
  writeSection('gateway', body);
}
