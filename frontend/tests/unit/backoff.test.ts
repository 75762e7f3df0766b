import { describe, expect, it, vi } from 'vitest';
import { backoffDelay } from '../../src/live/backoff';
import { eventsUrl, LiveConnection, parseEvent, type LiveState } from '../../src/live/connection';

describe('reconnect back-off', () => {
  it('doubles from 500 ms up to the ceiling without jitter', () => {
    const delays = Array.from({ length: 9 }, (_, i) => backoffDelay(i, { jitter: 0 }));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  });

  it('draws jittered delays between half and the full delay', () => {
    expect(backoffDelay(3, {}, () => 0)).toBe(4000);
    expect(backoffDelay(3, {}, () => 1)).toBe(2000);
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(4, {});
      expect(d).toBeGreaterThanOrEqual(4000);
      expect(d).toBeLessThanOrEqual(8000);
    }
  });
});

class FakeSocket {
  static all: FakeSocket[] = [];
  binaryType = '';
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onmessage: ((m: { data: string | ArrayBuffer }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  close() {
    this.onclose?.();
  }
}

describe('live connection', () => {
  it('builds a same-origin ws: or wss: URL', () => {
    expect(eventsUrl({ protocol: 'http:', host: '127.0.0.1:8000' })).toBe('ws://127.0.0.1:8000/tiles/events');
    expect(eventsUrl({ protocol: 'https:', host: 'sig.ville.fr' })).toBe('wss://sig.ville.fr/tiles/events');
  });

  it('parses binary JSON frames and ignores garbage', () => {
    const bytes = new TextEncoder().encode('{"type":"resync"}').buffer as ArrayBuffer;
    expect(parseEvent(bytes)).toEqual({ type: 'resync' });
    expect(parseEvent('not json')).toBeNull();
  });

  it('reconnects with back-off, then resyncs everything', () => {
    vi.useFakeTimers();
    FakeSocket.all = [];
    const states: LiveState[] = [];
    const changed: unknown[] = [];
    let resyncs = 0;
    const conn = new LiveConnection(
      'ws://x/tiles/events',
      {
        onState: (s) => states.push(s),
        onTilesChanged: (layer, bbox) => changed.push([layer, bbox]),
        onResync: () => resyncs++,
      },
      { jitter: 0 },
      (url) => new FakeSocket(url) as unknown as WebSocket,
    );
    conn.start();
    FakeSocket.all[0].onopen?.();
    FakeSocket.all[0].onmessage?.({ data: '{"type":"tiles.changed","layer":"buildings","bbox":[1,2,3,4]}' });
    expect(changed).toEqual([['buildings', [1, 2, 3, 4]]]);
    expect(resyncs).toBe(0);
    FakeSocket.all[0].onclose?.();
    expect(states.at(-1)).toBe('reconnecting');
    vi.advanceTimersByTime(499);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.all[1].onclose?.(); // second failure: 1 s
    vi.advanceTimersByTime(999);
    expect(FakeSocket.all).toHaveLength(2);
    vi.advanceTimersByTime(1);
    FakeSocket.all[2].onopen?.();
    expect(states.at(-1)).toBe('open');
    expect(resyncs).toBe(1); // events may have been missed while away
    FakeSocket.all[2].onmessage?.({ data: '{"type":"resync"}' });
    expect(resyncs).toBe(2);
    conn.stop();
    expect(states.at(-1)).toBe('closed');
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(3);
    vi.useRealTimers();
  });
});
