/**
 * File access inside a root (a live appliance at "/" or a copied backup tree). Paths are absolute
 * appliance paths; symlinks are resolved inside the root, never against the host. Missing files are
 * `undefined`; anything else that goes wrong is recorded as a FileError so the check goes on.
 */
import { lstat, readdir, readFile } from 'node:fs/promises';
import { resolveInRoot } from '../../platform/rootpath.ts';
import type { FileError } from '../findings.ts';
import { parseXml, type XmlElement } from '../../xml/xml.ts';
import { DecodeError } from '../../errors.ts';

/** Config and rule files beyond this size are refused rather than read into memory. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

export class RootFs {
  readonly errors: FileError[] = [];
  constructor(readonly root: string) {}

  private resolve(path: string): Promise<string | undefined> {
    return resolveInRoot(this.root, path);
  }

  /** Records an error against a file (appliance path). */
  error(file: string, message: string, line?: number): void {
    this.errors.push(line === undefined ? { file, message } : { file, line, message });
  }

  /** Text of a file, or undefined when it does not exist (unreadable files are recorded). */
  async text(path: string): Promise<string | undefined> {
    const real = await this.resolve(path);
    if (!real) return undefined;
    try {
      const st = await lstat(real);
      if (st.isDirectory()) {
        this.error(path, 'is a directory, expected a file');
        return undefined;
      }
      if (st.size > MAX_FILE_BYTES) {
        this.error(path, `file too large (${st.size} bytes)`);
        return undefined;
      }
      return await readFile(real, 'utf8');
    } catch (e) {
      this.error(path, `cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      return undefined;
    }
  }

  /** Names in a directory, sorted; empty when it does not exist. */
  async list(path: string): Promise<string[]> {
    const real = await this.resolve(path);
    if (!real) return [];
    try {
      return (await readdir(real)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOTDIR') this.error(path, `cannot list: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
      return [];
    }
  }

  async exists(path: string): Promise<boolean> {
    return (await this.resolve(path)) !== undefined;
  }

  /** Parses an XML file; malformed XML is recorded with its line and gives undefined. */
  async xml(path: string): Promise<XmlElement | undefined> {
    const text = await this.text(path);
    if (text === undefined) return undefined;
    try {
      return parseXml(text);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.error(path, e.message, typeof e.context.line === 'number' ? e.context.line : undefined);
      return undefined;
    }
  }

  /** Parses a JSON file; bad JSON is recorded and gives undefined. */
  async json(path: string): Promise<unknown> {
    const text = await this.text(path);
    if (text === undefined) return undefined;
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      this.error(path, `malformed JSON: ${(e as Error).message}`);
      return undefined;
    }
  }
}

/** Decodes the base64 the pfSense packages store text in (custom rules, suppress lists). */
export function decodeBase64Text(value: string): string | undefined {
  const v = value.replace(/\s+/g, '');
  if (v === '') return '';
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v) || v.length % 4 === 1) return undefined;
  return Buffer.from(v, 'base64').toString('utf8');
}
