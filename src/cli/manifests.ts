// Reads manifest files (multi-document YAML or JSON, or stdin) into numbered documents.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadAll, YAMLException } from 'js-yaml';
import { UsageError, type CliIo } from './cli-io.ts';

/** One document of a manifest file. */
export interface ManifestDocument {
  /** The file as named on the command line; `-` is shown as `<stdin>`. */
  file: string;
  /** 1-based position among the file's non-empty documents: what a person counts. */
  index: number;
  /** The parsed document; absent when it did not parse. */
  value?: unknown;
  /** Why the document did not parse. */
  parseError?: string;
}

const STDIN = '<stdin>';
const MANIFEST_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
/** A document start or end marker: `---` or `...` at column 0, as YAML defines them. */
const DOCUMENT_MARKER = /^(?:---|\.\.\.)(?:[ \t].*)?$/;

/**
 * Reads every named file (a directory: its *.yaml, *.yml and *.json files; `-`: stdin).
 * @throws UsageError when a file cannot be read: that is a mistake in the command, not a
 * problem in a manifest.
 */
export async function readManifests(paths: string[], io: CliIo): Promise<ManifestDocument[]> {
  const documents: ManifestDocument[] = [];
  let stdinRead = false;
  for (const name of paths) {
    if (name === '-') {
      if (stdinRead) continue;
      stdinRead = true;
      documents.push(...parseManifests(STDIN, await io.readStdin()));
      continue;
    }
    for (const file of await expand(name)) {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
      }
      documents.push(...parseManifests(file, text));
    }
  }
  return documents;
}

async function expand(name: string): Promise<string[]> {
  let info;
  try {
    info = await stat(name);
  } catch (error) {
    throw new UsageError(`cannot read ${name}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  if (!info.isDirectory()) return [name];
  const entries = await readdir(name);
  return entries
    .filter((entry) => MANIFEST_EXTENSIONS.has(path.extname(entry)))
    .sort()
    .map((entry) => path.join(name, entry));
}

/**
 * Splits a file at its document markers and parses each document on its own, so one broken
 * document is reported as such while the others are still checked (js-yaml's loadAll gives up
 * on the whole file at the first error). Empty documents (comments only, a trailing `---`)
 * are not numbered.
 */
export function parseManifests(file: string, text: string): ManifestDocument[] {
  const documents: ManifestDocument[] = [];
  const lines = text.split(/\r?\n/);
  let start = 0;
  const flush = (end: number) => {
    const chunk = lines.slice(start, end).join('\n');
    try {
      for (const value of loadAll(chunk)) {
        if (value === null || value === undefined) continue;
        documents.push({ file, index: documents.length + 1, value });
      }
    } catch (error) {
      documents.push({ file, index: documents.length + 1, parseError: yamlMessage(error, start) });
    }
  };
  lines.forEach((line, i) => {
    if (!DOCUMENT_MARKER.test(line)) return;
    flush(i);
    start = i + 1;
  });
  flush(lines.length);
  return documents;
}

function yamlMessage(error: unknown, lineOffset: number): string {
  if (error instanceof YAMLException) {
    const where = error.mark
      ? ` at line ${error.mark.line + 1 + lineOffset}, column ${error.mark.column + 1}`
      : '';
    return `not valid YAML: ${error.reason}${where}`;
  }
  return `not valid YAML: ${(error as Error).message}`;
}
