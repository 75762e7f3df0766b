// The console's client of the live stream /api/live/ws (incidents, detections, main courante, sensor values).
// One WebSocket per page, shared by every panel and overlay that subscribes. Logged events carry increasing
// ids: the client remembers the last one and reconnects (with back-off) asking `since=<last id>`, so nothing
// is missed nor applied twice (ids already seen are dropped). Sensor values are not logged: after a
// reconnection the server sends a `sensors.snapshot`. When the server cannot resume (`resync` with reason
// `pruned` or `unknown_id`), or when the client had no id to resume from, subscribers reload their state
// through the REST API.
import { backoffDelay, type BackoffOptions } from './backoff';
import type { LiveState } from './connection';

export const LIVE_TOPICS = ['incident', 'detection', 'log', 'sensors', 'simulation'] as const;
export type LiveTopic = (typeof LIVE_TOPICS)[number];

/** [sensor_id, epoch_ms, value] */
export type SensorValue = [number, number, number];

/** A logged event (incident, detection, log, simulation): its id orders it in the stream. */
export interface LoggedEvent<P = Record<string, unknown>> {
  id: number;
  topic: 'incident' | 'detection' | 'log' | 'simulation';
  at: string;
  territory: number | null;
  payload: P & { action?: string };
}

export type StreamMessage =
  | LoggedEvent
  | { topic: 'sensors' | 'sensors.snapshot'; readings: SensorValue[] }
  | { topic: 'ready'; last_id: number | null }
  | { topic: 'resync'; reason?: 'pruned' | 'unknown_id' | 'slow' | 'shutdown' | string }
  | { topic: 'ping' };

export interface StreamListener {
  /** A logged event not seen before, in id order. */
  onEvent?(event: LoggedEvent): void;
  /** New latest values of sensors (live or after a reconnection). */
  onSensors?(readings: SensorValue[]): void;
  /**
   * Load (or reload) the state through the REST API now. Every subscriber gets it once at its start — when
   * the stream is ready (so that nothing falls between the REST answer and the live events), or at once if
   * it already is, or when the socket fails before being ready (the panel then works without live) — and
   * again whenever state may have been lost.
   */
  onResync?(): void;
  onState?(state: LiveState, retryInMs?: number): void;
}

export interface StreamOptions {
  territory: number | string;
  topics?: readonly LiveTopic[];
  backoff?: BackoffOptions;
  makeSocket?: (url: string) => WebSocket;
  location?: { protocol: string; host: string };
}

/**
 * The stream's URL on the page's own origin; `since` asks for the events after that id.
 *
 * @example
 * streamUrl({ protocol: 'https:', host: 'h' }, { territory: 3, since: 41 })
 * // 'wss://h/api/live/ws?topics=incident%2Cdetection%2Clog%2Csensors%2Csimulation&territory=3&since=41'
 */
export function streamUrl(
  location: { protocol: string; host: string },
  { territory, since = null, topics = LIVE_TOPICS }: { territory: number | string; since?: number | null; topics?: readonly string[] },
): string {
  const q = new URLSearchParams({ topics: topics.join(','), territory: String(territory) });
  if (since !== null) q.set('since', String(since));
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/live/ws?${q}`;
}

/** Parse one frame (text or binary JSON); null for anything that is not a stream message. */
export function parseStreamMessage(data: unknown): StreamMessage | null {
  try {
    const text = typeof data === 'string' ? data : data instanceof ArrayBuffer ? new TextDecoder().decode(data) : null;
    if (text === null) return null;
    const message = JSON.parse(text) as StreamMessage;
    return message && typeof message === 'object' && typeof message.topic === 'string' ? message : null;
  } catch {
    return null;
  }
}

function isLogged(message: StreamMessage): message is LoggedEvent {
  const topic = message.topic;
  return (topic === 'incident' || topic === 'detection' || topic === 'log' || topic === 'simulation') && typeof (message as LoggedEvent).id === 'number';
}

export class LiveStream {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;
  private everOpened = false;
  private lastId: number | null = null;
  /** The current connection could not resume: reload once the server says it is ready. */
  private reloadWhenReady = false;
  /** Subscribers, and whether each has had its first load. */
  private readonly listeners = new Map<StreamListener, { primed: boolean }>();
  /** The current connection has received `ready`. */
  private ready = false;
  state: LiveState = 'closed';

  constructor(private readonly options: StreamOptions) {}

  /** The id of the last logged event seen (what a reconnection resumes from). */
  get since(): number | null {
    return this.lastId;
  }

  subscribe(listener: StreamListener): () => void {
    const entry = { primed: false };
    this.listeners.set(listener, entry);
    listener.onState?.(this.state);
    // Ready, or down and waiting to retry: nothing to wait for.
    if (this.ready || this.state === 'reconnecting') this.prime(listener, entry);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.ready = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    socket?.close(1000);
    this.setState('closed');
  }

  /** The URL of the next connection (resumes from the last id seen). */
  url(): string {
    const location = this.options.location ?? globalThis.location;
    return streamUrl(location, { territory: this.options.territory, since: this.lastId, topics: this.options.topics ?? LIVE_TOPICS });
  }

  private connect(): void {
    this.setState(this.everOpened || this.attempt > 0 ? 'reconnecting' : 'connecting');
    const make = this.options.makeSocket ?? ((u: string) => new WebSocket(u));
    const resumable = this.lastId !== null;
    const socket = make(this.url());
    this.ready = false;
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
      this.everOpened = true;
      // Without an id to resume from, whatever happened before the stream was ready is unknown to it (a
      // panel's first REST load may have been answered before the socket opened): reload once it is.
      this.reloadWhenReady = !resumable;
      this.setState('open');
    };
    socket.onmessage = (message: MessageEvent) => {
      if (this.socket === socket) this.handle(parseStreamMessage(message.data));
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      const delay = backoffDelay(this.attempt++, this.options.backoff);
      this.setState('reconnecting', delay);
      // No live stream for now: subscribers still waiting for their first load get it from REST.
      for (const [listener, entry] of [...this.listeners]) if (!entry.primed) this.prime(listener, entry);
      this.timer = setTimeout(() => this.connect(), delay);
    };
    socket.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  /** Apply one message (public for the tests: the socket calls it for every frame). */
  handle(message: StreamMessage | null): void {
    if (!message) return;
    if (isLogged(message)) {
      if (this.lastId !== null && message.id <= this.lastId) return; // replayed twice: already applied
      this.lastId = message.id;
      this.emit((l) => l.onEvent?.(message));
      return;
    }
    switch (message.topic) {
      case 'sensors':
      case 'sensors.snapshot':
        if (Array.isArray(message.readings) && message.readings.length) this.emit((l) => l.onSensors?.(message.readings));
        break;
      case 'ready':
        // The first connection starts at the server's newest id; later ones have caught up to it.
        if (typeof message.last_id === 'number' && (this.lastId === null || message.last_id > this.lastId)) this.lastId = message.last_id;
        this.ready = true;
        for (const [listener, entry] of [...this.listeners]) {
          if (this.reloadWhenReady || !entry.primed) this.prime(listener, entry);
        }
        this.reloadWhenReady = false;
        break;
      case 'resync':
        // Dropped for being slow, or the server stopping: the connection ends and the reconnection resumes
        // from our id, losing nothing. Otherwise the events after our id are gone (pruned, or another
        // database): reload, and take the id of the `ready` that follows as the new start.
        if (message.reason === 'slow' || message.reason === 'shutdown') break;
        this.lastId = null;
        this.emit((l) => l.onResync?.());
        break;
      default:
        break;
    }
  }

  private setState(state: LiveState, retryInMs?: number): void {
    this.state = state;
    this.emit((l) => l.onState?.(state, retryInMs));
  }

  private prime(listener: StreamListener, entry: { primed: boolean }): void {
    entry.primed = true;
    this.call(listener, (l) => l.onResync?.());
  }

  private call(listener: StreamListener, call: (listener: StreamListener) => void): void {
    try {
      call(listener);
    } catch (error) {
      // One panel's bug must not stop the others' updates.
      console.error(error);
    }
  }

  private emit(call: (listener: StreamListener) => void): void {
    for (const listener of [...this.listeners.keys()]) this.call(listener, call);
  }
}

let shared: { key: string; stream: LiveStream; users: number } | null = null;

/**
 * The page's stream for `territory`, started on first use; the returned release stops it after its last user.
 * Panels are mounted again when the registry changes: the new instance acquires before the old one
 * releases, so the socket stays open.
 */
export function acquireStream(territory: number | string, listener: StreamListener, options: Partial<StreamOptions> = {}): () => void {
  const key = String(territory);
  if (!shared || shared.key !== key) {
    shared?.stream.stop();
    shared = { key, stream: new LiveStream({ territory, ...options }), users: 0 };
  }
  const entry = shared;
  entry.users += 1;
  const unsubscribe = entry.stream.subscribe(listener);
  entry.stream.start();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    unsubscribe();
    entry.users -= 1;
    if (entry.users <= 0) {
      entry.stream.stop();
      if (shared === entry) shared = null;
    }
  };
}

/** The shared stream, if any (the tests and the debug hook read its state). */
export function sharedStream(): LiveStream | null {
  return shared?.stream ?? null;
}
