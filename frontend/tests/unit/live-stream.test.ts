import { afterEach, describe, expect, it, vi } from 'vitest';
import type { LiveState } from '../../src/live/connection';
import { acquireStream, LiveStream, parseStreamMessage, sharedStream, streamUrl, type LoggedEvent, type SensorValue } from '../../src/live/stream';

class FakeSocket {
  static all: FakeSocket[] = [];
  binaryType = '';
  closed = false;
  onopen: (() => void) | null = null;
  onclose: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onmessage: ((m: { data: string | ArrayBuffer }) => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.all.push(this);
  }
  close() {
    this.closed = true;
    this.onclose?.();
  }
  send(message: object) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
}

const HERE = { protocol: 'http:', host: '127.0.0.1:8000' };
const make = (url: string) => new FakeSocket(url) as unknown as WebSocket;
const event = (id: number, topic: LoggedEvent['topic'] = 'incident'): LoggedEvent => ({ id, topic, at: '2026-11-26T10:00:00Z', territory: 1, payload: { action: 'created' } });

function since(url: string): string | null {
  return new URL(url.replace(/^ws/, 'http')).searchParams.get('since');
}

afterEach(() => {
  vi.useRealTimers();
  FakeSocket.all = [];
});

describe('live stream URL and messages', () => {
  it('asks for every topic of one territory, resuming after an id when it has one', () => {
    expect(streamUrl(HERE, { territory: 3 })).toBe('ws://127.0.0.1:8000/api/live/ws?topics=incident%2Cdetection%2Clog%2Csensors%2Csimulation&territory=3');
    expect(streamUrl({ protocol: 'https:', host: 'sig.ville.fr' }, { territory: 3, since: 41 })).toBe(
      'wss://sig.ville.fr/api/live/ws?topics=incident%2Cdetection%2Clog%2Csensors%2Csimulation&territory=3&since=41',
    );
  });

  it('parses text and binary frames and refuses anything else', () => {
    expect(parseStreamMessage('{"topic":"ready","last_id":4}')).toEqual({ topic: 'ready', last_id: 4 });
    const bytes = new TextEncoder().encode('{"topic":"resync"}').buffer as ArrayBuffer;
    expect(parseStreamMessage(bytes)).toEqual({ topic: 'resync' });
    expect(parseStreamMessage('not json')).toBeNull();
    expect(parseStreamMessage('{"type":"hello"}')).toBeNull();
    expect(parseStreamMessage('null')).toBeNull();
    expect(parseStreamMessage(42)).toBeNull();
  });
});

describe('live stream', () => {
  it('delivers each logged event once, in order, and drops replayed ids', () => {
    const stream = new LiveStream({ territory: 1, makeSocket: make, location: HERE });
    const seen: number[] = [];
    stream.subscribe({ onEvent: (e) => seen.push(e.id) });
    stream.start();
    const socket = FakeSocket.all[0];
    socket.onopen?.();
    for (const id of [5, 6, 6, 4, 7]) socket.send(event(id));
    expect(seen).toEqual([5, 6, 7]);
    expect(stream.since).toBe(7);
    stream.stop();
  });

  it('reconnects with back-off and resumes from the last id seen', () => {
    vi.useFakeTimers();
    const states: LiveState[] = [];
    const seen: number[] = [];
    let resyncs = 0;
    const stream = new LiveStream({ territory: 'Monaco', makeSocket: make, location: HERE, backoff: { jitter: 0 } });
    stream.subscribe({ onEvent: (e) => seen.push(e.id), onResync: () => resyncs++, onState: (s) => states.push(s) });
    stream.start();
    expect(since(FakeSocket.all[0].url)).toBeNull();
    FakeSocket.all[0].onopen?.();
    FakeSocket.all[0].send({ topic: 'ready', last_id: 10 });
    // The first connection could not resume: subscribers reload once the stream is ready.
    expect(resyncs).toBe(1);
    FakeSocket.all[0].send(event(11));
    FakeSocket.all[0].onclose?.();
    expect(states.at(-1)).toBe('reconnecting');
    vi.advanceTimersByTime(499);
    expect(FakeSocket.all).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeSocket.all).toHaveLength(2);
    expect(since(FakeSocket.all[1].url)).toBe('11');
    FakeSocket.all[1].onclose?.(); // refused again: 1 s, still resuming from 11
    vi.advanceTimersByTime(1000);
    expect(since(FakeSocket.all[2].url)).toBe('11');
    const socket = FakeSocket.all[2];
    socket.onopen?.();
    expect(states.at(-1)).toBe('open');
    // The server replays what was missed (11 again included), then says it is ready: no reload needed.
    for (const id of [11, 12, 13]) socket.send(event(id, 'log'));
    socket.send({ topic: 'ready', last_id: 13 });
    expect(seen).toEqual([11, 12, 13]);
    expect(resyncs).toBe(1);
    stream.stop();
    expect(states.at(-1)).toBe('closed');
    vi.advanceTimersByTime(60_000);
    expect(FakeSocket.all).toHaveLength(3);
  });

  it('takes the ready id as its start, so that a reconnection before any event resumes from it', () => {
    vi.useFakeTimers();
    const stream = new LiveStream({ territory: 1, makeSocket: make, location: HERE, backoff: { jitter: 0 } });
    stream.start();
    FakeSocket.all[0].onopen?.();
    FakeSocket.all[0].send({ topic: 'ready', last_id: 99 });
    FakeSocket.all[0].onclose?.();
    vi.advanceTimersByTime(500);
    expect(since(FakeSocket.all[1].url)).toBe('99');
    stream.stop();
  });

  it('forgets its id and reloads on resync', () => {
    vi.useFakeTimers();
    let resyncs = 0;
    const seen: number[] = [];
    const stream = new LiveStream({ territory: 1, makeSocket: make, location: HERE, backoff: { jitter: 0 } });
    stream.subscribe({ onResync: () => resyncs++, onEvent: (e) => seen.push(e.id) });
    stream.start();
    const socket = FakeSocket.all[0];
    socket.onopen?.();
    socket.send(event(50));
    socket.send({ topic: 'resync' });
    expect(resyncs).toBe(1);
    expect(stream.since).toBeNull();
    // After a resync ids start afresh: a lower id (the log was pruned and restarted) is not dropped.
    socket.send(event(3));
    expect(seen).toEqual([50, 3]);
    socket.onclose?.();
    vi.advanceTimersByTime(500);
    expect(since(FakeSocket.all[1].url)).toBe('3');
    stream.stop();
  });

  it('keeps its id when dropped for being slow or by a stopping server, and resumes from it', () => {
    vi.useFakeTimers();
    let resyncs = 0;
    const stream = new LiveStream({ territory: 1, makeSocket: make, location: HERE, backoff: { jitter: 0 } });
    stream.subscribe({ onResync: () => resyncs++ });
    stream.start();
    FakeSocket.all[0].onopen?.();
    FakeSocket.all[0].send({ topic: 'ready', last_id: 20 });
    expect(resyncs).toBe(1); // the first connection's reload
    FakeSocket.all[0].send(event(21));
    FakeSocket.all[0].send({ topic: 'resync', reason: 'slow' });
    FakeSocket.all[0].onclose?.();
    vi.advanceTimersByTime(500);
    expect(since(FakeSocket.all[1].url)).toBe('21');
    FakeSocket.all[1].onopen?.();
    FakeSocket.all[1].send({ topic: 'resync', reason: 'shutdown' });
    expect(resyncs).toBe(1);
    expect(stream.since).toBe(21);
    // A pruned id: reload, then start from the id the server gives.
    FakeSocket.all[1].send({ topic: 'resync', reason: 'pruned' });
    FakeSocket.all[1].send({ topic: 'ready', last_id: 400 });
    expect(resyncs).toBe(2);
    expect(stream.since).toBe(400);
    stream.stop();
  });

  it('tells each subscriber once when to load: at ready, at once if ready already, or when the socket fails', () => {
    vi.useFakeTimers();
    const loads = { early: 0, late: 0, offline: 0 };
    const stream = new LiveStream({ territory: 1, makeSocket: make, location: HERE, backoff: { jitter: 0 } });
    stream.subscribe({ onResync: () => loads.early++ });
    stream.start();
    FakeSocket.all[0].onopen?.();
    expect(loads.early).toBe(0); // open is not ready: the replay may still come
    FakeSocket.all[0].send({ topic: 'ready', last_id: 5 });
    expect(loads.early).toBe(1);
    stream.subscribe({ onResync: () => loads.late++ });
    expect(loads.late).toBe(1); // a panel mounted later loads at once
    FakeSocket.all[0].onclose?.();
    vi.advanceTimersByTime(500);
    FakeSocket.all[1].onopen?.();
    FakeSocket.all[1].send({ topic: 'ready', last_id: 5 });
    expect(loads).toEqual({ early: 1, late: 1, offline: 0 }); // resumed: nothing to reload
    stream.stop();

    // The live stream refused (server without it, or down): panels still load, from REST alone.
    const down = new LiveStream({ territory: 1, makeSocket: make, location: HERE, backoff: { jitter: 0 } });
    down.subscribe({ onResync: () => loads.offline++ });
    down.start();
    FakeSocket.all[2].onclose?.();
    expect(loads.offline).toBe(1);
    down.subscribe({ onResync: () => loads.offline++ }); // mounted while it waits to retry
    expect(loads.offline).toBe(2);
    FakeSocket.all[2].onclose?.();
    vi.advanceTimersByTime(500);
    FakeSocket.all[3].onclose?.();
    expect(loads.offline).toBe(2); // once each, not at every failed attempt
    down.stop();
  });

  it('passes sensor values and snapshots through, and ignores empty ones', () => {
    const stream = new LiveStream({ territory: 1, makeSocket: make, location: HERE });
    const batches: SensorValue[][] = [];
    stream.subscribe({ onSensors: (r) => batches.push(r) });
    stream.start();
    const socket = FakeSocket.all[0];
    socket.onopen?.();
    socket.send({ topic: 'sensors', readings: [[1, 1000, 4.5]] });
    socket.send({ topic: 'sensors', readings: [] });
    socket.send({ topic: 'sensors.snapshot', readings: [[2, 2000, 7]] });
    expect(batches).toEqual([[[1, 1000, 4.5]], [[2, 2000, 7]]]);
    expect(stream.since).toBeNull(); // sensor values are not logged: they carry no id
    stream.stop();
  });

  it('keeps delivering when one subscriber throws', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const stream = new LiveStream({ territory: 1, makeSocket: make, location: HERE });
    const seen: number[] = [];
    stream.subscribe({
      onEvent: () => {
        throw new Error('panel bug');
      },
    });
    stream.subscribe({ onEvent: (e) => seen.push(e.id) });
    stream.start();
    FakeSocket.all[0].onopen?.();
    FakeSocket.all[0].send(event(1));
    expect(seen).toEqual([1]);
    expect(errors).toHaveBeenCalledOnce();
    errors.mockRestore();
    stream.stop();
  });

  it('is shared by the panels of a page and closed after the last one leaves', () => {
    const options = { makeSocket: make, location: HERE };
    const a = acquireStream(7, {}, options);
    const b = acquireStream(7, {}, options);
    expect(FakeSocket.all).toHaveLength(1);
    expect(sharedStream()?.state).toBe('connecting');
    a();
    a(); // a second release of the same user changes nothing
    expect(FakeSocket.all[0].closed).toBe(false);
    b();
    expect(FakeSocket.all[0].closed).toBe(true);
    expect(sharedStream()).toBeNull();
  });
});
