/**
 * Small helpers to walk a parsed config.xml the way appliances lay it out: nested elements, lists as
 * repeated elements, values as element text.
 */
import type { XmlElement } from './xml.ts';

/** Child elements, optionally only those with this name. */
export function elements(el: XmlElement | undefined, name?: string): XmlElement[] {
  if (!el) return [];
  const out: XmlElement[] = [];
  for (const c of el.children) if (c.kind === 'element' && (name === undefined || c.name === name)) out.push(c);
  return out;
}

/** The first child element with this name. */
export function element(el: XmlElement | undefined, name: string): XmlElement | undefined {
  if (!el) return undefined;
  for (const c of el.children) if (c.kind === 'element' && c.name === name) return c;
  return undefined;
}

/** Follows a slash-separated path of element names ("OPNsense/IDS/general"), first match at each step. */
export function at(el: XmlElement | undefined, path: string): XmlElement | undefined {
  let cur = el;
  for (const step of path.split('/')) {
    if (step === '') continue;
    cur = element(cur, step);
    if (!cur) return undefined;
  }
  return cur;
}

/** All elements matching a path whose last step may repeat ("rules/rule"). */
export function all(el: XmlElement | undefined, path: string): XmlElement[] {
  const steps = path.split('/').filter((s) => s !== '');
  const last = steps.pop();
  if (last === undefined) return [];
  return elements(at(el, steps.join('/')), last);
}

/** The concatenated text of an element's direct text children (CDATA included). */
export function textOf(el: XmlElement | undefined): string {
  if (!el) return '';
  let s = '';
  for (const c of el.children) if (c.kind === 'text') s += c.text;
  return s;
}

/** Trimmed text at a path, or undefined when the element is missing. */
export function textAt(el: XmlElement | undefined, path: string): string | undefined {
  const found = at(el, path);
  return found ? textOf(found).trim() : undefined;
}
