/**
 * The engine's numbers and why they have their values (docs/mesh-paths.md; most follow tailscale's
 * magicsock, wgengine/magicsock/endpoint.go, as summarised in shared mesh facts).
 */

/** A candidate is pinged at most this often by a discovery round (call-me-maybe and a link change reset it). */
export const PING_INTERVAL_MS = 5_000;
/** A ping without a pong after this long counts as lost. */
export const PING_TIMEOUT_MS = 5_000;
/** A path stays trusted this long after each pong; then packets go on it and through the relay both. */
export const TRUST_MS = 6_500;
/** A ping on the path in use unanswered this long (or 3 RTTs, whichever is longer) makes the path suspect:
 * packets go through the relay as well until a pong arrives (failover well under 3 s on average). */
export const SUSPECT_MIN_MS = 1_000;
/** Data sent for the peer but nothing (data or pong) heard back on the path in use for this long: the path is
 * probed at once instead of at the next heartbeat (anchors: "sent but nothing received" as a liveness
 * signal), and every packet gets a relay copy while the probe is out. Half a second: a TCP sender whose
 * ACKs stopped retransmits at about 0.2, 0.6 and 1.4 s (Linux RTO_MIN 200 ms, doubling), and the copy
 * must be in place for the 0.6 s one or the stream stands still until 1.4 s (with 1 s here it stood
 * still until 1.4 or 3 s). The router reports receives every 250 ms, so this is 250-500 ms of real
 * silence; a healthy stream's ACKs or WireGuard's replies come far sooner. What a false alarm costs: one
 * probe and a relay copy for one round trip; the path is given up only when the probe stays unanswered
 * with nothing else heard (SUSPECT_MIN_MS). A one-way flow costs one probe per heartbeat period. */
export const SILENCE_MS = 500;
/** Pings per silence probe: the path is given up only if all are lost, so a lossy path that works is kept
 * (20% loss: 0.8% of probes on a one-way flow, where pongs are all that is heard). */
export const SILENCE_PROBE_PINGS = 3;
/** Heartbeat pings on the path in use, while there was traffic lately. */
export const HEARTBEAT_MS = 3_000;
/** "Active" = traffic for the peer within this window; heartbeats and re-STUN run only while active. */
export const ACTIVE_MS = 45_000;
/** Full re-probe of every candidate (a better path may have appeared)... */
export const REPROBE_MS = 60_000;
/** ...unless the path in use is already this fast: nothing will beat it by enough to matter. */
export const REPROBE_SKIP_RTT_MS = 5;
/** A peer-reflexive candidate is forgotten this long after its last ping or pong. */
export const PEER_REFLEXIVE_TTL_MS = 45_000;
/** While relayed with no answer yet: a discovery round (pings + call-me-maybe) every 5 s at first... */
export const RELAYED_ROUND_FAST_MS = 5_000;
/** ...for this long after discovery started... */
export const RELAYED_FAST_PHASE_MS = 30_000;
/** ...then every 30 s, so a healed path is back well within a minute without pinging dead paths at 0.2 Hz forever. */
export const RELAYED_ROUND_SLOW_MS = 30_000;
/** The path in use is given up (relay only) after this many heartbeats in a row without a pong (idle peers;
 * a peer we are sending to is given up once its suspect ping stays unanswered with nothing else heard). */
export const LOST_PINGS_TO_DROP = 3;
/** On a send error, another candidate whose last ping was answered within this long takes over at once. */
export const FALLBACK_MAX_AGE_MS = 2 * 60_000;
/** A candidate whose send failed (EHOSTUNREACH, ENETUNREACH) is skipped this long, then tried again. */
export const SEND_ERROR_HOLD_MS = 5_000;
/** Re-STUN while active, every 20 s plus up to 6 s of jitter (NAT UDP timeouts are often 30 s). */
export const RESTUN_MIN_MS = 20_000;
export const RESTUN_JITTER_MS = 6_000;
/** Before a discovery round, a STUN result older than this is refreshed first (tailscale: 27 s). */
export const STUN_STALE_MS = 27_000;
/** Scoring hysteresis: a candidate must win by more than this many points to replace the path in use. */
export const SWITCH_MIN_POINTS = 1;
/** Ping outcomes remembered per candidate to measure loss; RTT samples kept (the minimum is used). */
export const LOSS_WINDOW = 8;
export const RTT_SAMPLES = 8;
/** Path-change events kept per peer for `status`. */
export const EVENT_HISTORY = 32;
