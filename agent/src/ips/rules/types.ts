/**
 * The parsed form of one Suricata/Snort rule line:
 *   action proto src sport (-> | <>) dst dport (key:value; key; ...)
 * Parsing keeps every option in order (payload keywords are order-sensitive: distance/within refer to
 * the previous content) and lifts the identifying ones (sid, gid, rev, msg, classtype, metadata).
 */

/** Rule actions of Suricata (alert, pass, drop, reject*) and Snort 2 (log, sdrop, activate, dynamic). */
export type RuleAction = 'alert' | 'pass' | 'drop' | 'reject' | 'rejectsrc' | 'rejectdst' | 'rejectboth' | 'log' | 'sdrop' | 'activate' | 'dynamic';

export const RULE_ACTIONS: readonly RuleAction[] = ['alert', 'pass', 'drop', 'reject', 'rejectsrc', 'rejectdst', 'rejectboth', 'log', 'sdrop', 'activate', 'dynamic'];

/** One element of an address or port list; `value` is a literal, a range "a:b", a `$VAR` or a nested list. */
export interface ListItem {
  negated: boolean;
  value: string | ListItem[];
}

/** `any`, or a (possibly negated, possibly nested) list of items. */
export type Spec = { any: true } | { any: false; items: ListItem[] };

export interface ContentOption {
  kind: 'content';
  pattern: Uint8Array;
  negated: boolean;
  nocase: boolean;
  offset?: number;
  depth?: number;
  distance?: number;
  within?: number;
  startsWith: boolean;
  endsWith: boolean;
  /** Sticky buffer or content modifier that moves this match off the packet payload (e.g. http.uri). */
  buffer: string;
}

/** Any option other than content; its modifiers are parsed lazily by the matcher. */
export interface PlainOption {
  kind: 'option';
  name: string;
  value: string | undefined;
}

export type RuleOption = ContentOption | PlainOption;

export interface Rule {
  /** False for a rule line that is commented out (how rule managers disable a rule). */
  enabled: boolean;
  action: RuleAction;
  protocol: string;
  src: Spec;
  srcPorts: Spec;
  bidirectional: boolean;
  dst: Spec;
  dstPorts: Spec;
  options: RuleOption[];
  sid: number | undefined;
  gid: number;
  rev: number | undefined;
  msg: string | undefined;
  classtype: string | undefined;
  /** `metadata` key/value pairs, e.g. { signature_severity: ['Major'] }. */
  metadata: Record<string, string[]>;
  /** The rule text as written (without a leading '#'). */
  text: string;
  /** Where it came from, for reports. */
  file?: string;
  line: number;
}

/** A rule line that could not be parsed. */
export interface RuleParseError {
  file?: string;
  line: number;
  message: string;
}
