/** Protocol constants (whitepaper 6.1 and wireguard-go device/constants.go), in our units. */

export const REKEY_AFTER_MESSAGES = 2 ** 60;
/** 2^64 - 2^13 - 1 is not a safe integer; as a number it rounds to 2^64 - 2^13, one above the true limit.
 * Counters decode exactly only below 2^53 (see messages.ts), so the limit is never reached in practice. */
export const REJECT_AFTER_MESSAGES = 2 ** 64 - 2 ** 13 - 1;
export const REKEY_AFTER_TIME_MS = 120_000;
export const REJECT_AFTER_TIME_MS = 180_000;
export const REKEY_ATTEMPT_TIME_MS = 90_000;
export const REKEY_TIMEOUT_MS = 5_000;
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/** How long a received cookie is used for mac2, and how often the cookie secret rotates. */
export const COOKIE_REFRESH_TIME_MS = 120_000;
/** Retransmissions before giving up on a handshake: REKEY_ATTEMPT_TIME / REKEY_TIMEOUT. */
export const MAX_TIMER_HANDSHAKES = REKEY_ATTEMPT_TIME_MS / REKEY_TIMEOUT_MS;
/** wireguard-go adds up to a third of a second of jitter to handshake retries. */
export const REKEY_TIMEOUT_JITTER_MAX_MS = 334;
/** Initiations from one peer closer together than this are dropped as a flood (wireguard-go: 50 per second). */
export const HANDSHAKE_INITIATION_RATE_MS = 20;
/** After this many handshake messages in a second the device asks for cookies (wireguard-go: a busy queue). */
export const DEFAULT_HANDSHAKE_LOAD_THRESHOLD = 128;
export const UNDER_LOAD_AFTER_MS = 1_000;
/** Packets staged per peer while waiting for a session (wireguard-go QueueStagedSize). */
export const MAX_STAGED_PACKETS = 128;
export const PADDING_MULTIPLE = 16;
