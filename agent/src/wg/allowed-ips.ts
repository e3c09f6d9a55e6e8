/**
 * Allowed IPs (whitepaper 3, "cryptokey routing"): a longest-prefix-match table from IPv4/IPv6 prefixes
 * to peers. Outbound, the destination picks the peer; inbound, the decrypted packet's source must map
 * back to the peer it came from. One binary trie per family, one node per prefix bit: lookups cost at
 * most 32 / 128 steps with no allocation, which is plenty next to a ChaCha20-Poly1305 operation.
 */
import { formatCidr, parseCidr, type Cidr } from '../net/ip.ts';

interface Node<P> {
  zero: Node<P> | undefined;
  one: Node<P> | undefined;
  peer: P | undefined;
}

const newNode = <P>(): Node<P> => ({ zero: undefined, one: undefined, peer: undefined });

function bit(bytes: Uint8Array, i: number): number {
  return (bytes[i >> 3]! >> (7 - (i & 7))) & 1;
}

export class AllowedIps<P> {
  private readonly v4: Node<P> = newNode();
  private readonly v6: Node<P> = newNode();

  /** Maps a prefix to a peer, replacing whichever peer had exactly that prefix (as wg does). */
  insert(cidr: Cidr, peer: P): void {
    let n = cidr.family === 4 ? this.v4 : this.v6;
    for (let i = 0; i < cidr.prefixLen; i++) {
      const b = bit(cidr.bytes, i);
      const next = b ? n.one : n.zero;
      if (next) n = next;
      else {
        const created = newNode<P>();
        if (b) n.one = created;
        else n.zero = created;
        n = created;
      }
    }
    n.peer = peer;
  }

  /** Parses and inserts CIDR text (host bits are cleared); returns false if it is not a prefix. */
  insertText(text: string, peer: P): boolean {
    const c = parseCidr(text, { loose: true });
    if (!c) return false;
    this.insert(c, peer);
    return true;
  }

  /** Removes one prefix if it maps to `peer`. */
  remove(cidr: Cidr, peer: P): boolean {
    let n: Node<P> | undefined = cidr.family === 4 ? this.v4 : this.v6;
    for (let i = 0; i < cidr.prefixLen && n; i++) n = bit(cidr.bytes, i) ? n.one : n.zero;
    if (!n || n.peer !== peer) return false;
    n.peer = undefined;
    return true;
  }

  /** Removes every prefix of `peer`. */
  removePeer(peer: P): void {
    const walk = (n: Node<P> | undefined): boolean => {
      if (!n) return false;
      if (n.peer === peer) n.peer = undefined;
      if (!walk(n.zero)) n.zero = undefined;
      if (!walk(n.one)) n.one = undefined;
      return n.peer !== undefined || n.zero !== undefined || n.one !== undefined;
    };
    walk(this.v4);
    walk(this.v6);
  }

  /** The peer of the longest prefix containing `addr` (4 or 16 bytes), or undefined. */
  lookup(addr: Uint8Array): P | undefined {
    return this.lookupAt(addr, 0, addr.length);
  }

  /** Like lookup, reading the address in place from a packet (offset, 4 or 16 bytes) without a copy. */
  lookupAt(packet: Uint8Array, offset: number, len: number): P | undefined {
    let n: Node<P> | undefined = len === 4 ? this.v4 : len === 16 ? this.v6 : undefined;
    let best: P | undefined;
    const bits = len * 8;
    for (let i = 0; n; i++) {
      if (n.peer !== undefined) best = n.peer;
      if (i === bits) break;
      n = (packet[offset + (i >> 3)]! >> (7 - (i & 7))) & 1 ? n.one : n.zero;
    }
    return best;
  }

  /** The prefixes of `peer`, as CIDR text (IPv4 first). */
  entriesOf(peer: P): string[] {
    const out: string[] = [];
    const walk = (n: Node<P> | undefined, family: 4 | 6, bytes: Uint8Array, depth: number): void => {
      if (!n) return;
      if (n.peer === peer) out.push(formatCidr({ family, bytes: Uint8Array.from(bytes), prefixLen: depth }));
      if (n.zero) walk(n.zero, family, bytes, depth + 1);
      if (n.one) {
        bytes[depth >> 3] = bytes[depth >> 3]! | (0x80 >> (depth & 7));
        walk(n.one, family, bytes, depth + 1);
        bytes[depth >> 3] = bytes[depth >> 3]! & ~(0x80 >> (depth & 7));
      }
    };
    walk(this.v4, 4, new Uint8Array(4), 0);
    walk(this.v6, 6, new Uint8Array(16), 0);
    return out;
  }
}
