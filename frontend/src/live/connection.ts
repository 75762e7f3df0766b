// The console's subscription to /tiles/events (same origin): hello, tiles.changed, ping, resync.
// Reconnects with back-off; after any reconnection every tile is refetched (events may have been missed).
import { backoffDelay, type BackoffOptions } from './backoff';
import type { BBox } from './tiles';

export type LiveState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export type LiveEvent =
  | { type: 'hello'; role: string; layers: string[] }
  | { type: 'tiles.changed'; layer: string; bbox: BBox | null; change?: number; catalog?: boolean }
  | { type: 'resync' }
  | { type: 'ping' };

export interface LiveHandlers {
  onState(state: LiveState, retryInMs?: number): void;
  onTilesChanged(layer: string, bbox: BBox | null, catalog: boolean): void;
  /** Refetch everything: a `resync` message, or a reconnection after a loss. */
  onResync(): void;
  onHello?(role: string, layers: string[]): void;
}

/** The WebSocket URL of the events, on the page's own origin (ws: for http:, wss: for https:). */
export function eventsUrl(location: { protocol: string; host: string }): string {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/tiles/events`;
}

/** Parse one message (the server sends JSON as binary frames); null for anything unexpected. */
export function parseEvent(data: string | ArrayBuffer): LiveEvent | null {
  try {
    const text = typeof data === 'string' ? data : new TextDecoder().decode(data);
    const event = JSON.parse(text) as LiveEvent;
    return event && typeof event.type === 'string' ? event : null;
  } catch {
    return null;
  }
}

export class LiveConnection {
  private socket: WebSocket | null = null;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private everOpened = false;

  constructor(
    private readonly url: string,
    private readonly handlers: LiveHandlers,
    private readonly backoff: BackoffOptions = {},
    private readonly makeSocket: (url: string) => WebSocket = (u) => new WebSocket(u),
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.socket?.close(1000);
    this.socket = null;
    this.handlers.onState('closed');
  }

  private connect(): void {
    this.handlers.onState(this.attempt === 0 && !this.everOpened ? 'connecting' : 'reconnecting');
    const socket = this.makeSocket(this.url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.onopen = () => {
      const reconnected = this.everOpened;
      this.attempt = 0;
      this.everOpened = true;
      this.handlers.onState('open');
      if (reconnected) this.handlers.onResync();
    };
    socket.onmessage = (message: MessageEvent) => this.dispatch(parseEvent(message.data as string | ArrayBuffer));
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      const delay = backoffDelay(this.attempt++, this.backoff);
      this.handlers.onState('reconnecting', delay);
      this.timer = setTimeout(() => this.connect(), delay);
    };
    socket.onerror = () => {
      // onclose follows and schedules the retry.
    };
  }

  private dispatch(event: LiveEvent | null): void {
    if (!event) return;
    switch (event.type) {
      case 'hello':
        this.handlers.onHello?.(event.role, event.layers);
        break;
      case 'tiles.changed':
        this.handlers.onTilesChanged(event.layer, event.bbox ?? null, Boolean(event.catalog));
        break;
      case 'resync':
        this.handlers.onResync();
        break;
      default:
        break;
    }
  }
}
