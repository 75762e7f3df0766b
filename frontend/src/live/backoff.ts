// Reconnection delays: exponential back-off with a ceiling and "full jitter", so that a restarted server
// is not hit by every console at the same instant.

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  factor?: number;
  /** 0 = no jitter; 1 = a delay drawn uniformly in [delay/2, delay] ("equal jitter"). */
  jitter?: number;
}

export const DEFAULT_BACKOFF: Required<BackoffOptions> = { baseMs: 500, maxMs: 30_000, factor: 2, jitter: 1 };

/**
 * The delay before reconnection attempt number `attempt` (0 for the first retry).
 *
 * `random` is injectable for tests; with `jitter` 0 the sequence is 500, 1000, 2000, … capped at `maxMs`.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const { baseMs, maxMs, factor, jitter } = { ...DEFAULT_BACKOFF, ...options };
  const raw = Math.min(maxMs, baseMs * factor ** Math.max(0, attempt));
  const spread = (raw / 2) * Math.min(1, Math.max(0, jitter));
  return Math.round(raw - spread * random());
}
