// The territory's sensors with their latest values and open detections, kept current: loaded through the
// REST API, then patched by the live stream (`sensors` values, `detection` events). The sensors panel and
// its map overlay both read it.
import { api } from '../core/api';
import type { Detection } from '../incidents/model';
import type { LoggedEvent, SensorValue } from '../live/stream';
import { applyValues, type Kind, type Sensor } from './model';

export class SensorStore {
  readonly sensors = new Map<number, Sensor>();
  kinds: Kind[] = [];
  /** Open detections by sensor (id → detection): the marker and the detail's list. */
  private readonly open = new Map<number, Map<number, Detection>>();
  private readonly listeners = new Set<(changed: number[] | null) => void>();
  private serial = 0;
  loaded = false;

  constructor(private readonly territoryId: number) {}

  onChange(listener: (changed: number[] | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  openDetections(sensorId: number): Detection[] {
    return [...(this.open.get(sensorId)?.values() ?? [])].sort((a, b) => a.id - b.id);
  }

  /** Open detections of a sensor: those the stream told us of, else the count the sensors list gave. */
  openCount(sensorId: number): number {
    return this.open.get(sensorId)?.size ?? this.sensors.get(sensorId)?.open_detections ?? 0;
  }

  async load(): Promise<void> {
    const mine = ++this.serial;
    const territory = String(this.territoryId);
    const [kinds, { sensors }, detections] = await Promise.all([
      this.kinds.length ? Promise.resolve(this.kinds) : api<Kind[]>('/api/sensing/kinds'),
      api<{ sensors: Sensor[] }>(`/api/sensing/sensors?${new URLSearchParams({ territory })}`),
      api<{ detections: Detection[] }>(`/api/sensing/detections?${new URLSearchParams({ territory, open: 'true' })}`).catch(() => ({ detections: [] as Detection[] })),
    ]);
    if (mine !== this.serial) return;
    this.kinds = Array.isArray(kinds) ? kinds : ((kinds as { kinds?: Kind[] }).kinds ?? []);
    const held = new Map(this.sensors);
    this.sensors.clear();
    for (const sensor of sensors) {
      const before = held.get(sensor.id);
      // A live value newer than the REST answer (it arrived while the request was on its way) is kept.
      if (before?.latest && (!sensor.latest || Date.parse(before.latest.observed_at) > Date.parse(sensor.latest.observed_at))) {
        sensor.latest = before.latest;
        sensor.status = before.status;
      }
      this.sensors.set(sensor.id, sensor);
    }
    this.open.clear();
    for (const detection of detections.detections ?? []) this.trackDetection(detection);
    this.loaded = true;
    this.changed(null);
  }

  applyValues(readings: readonly SensorValue[]): number[] {
    const changed = applyValues(this.sensors, readings);
    if (changed.length) this.changed(changed);
    return changed;
  }

  applyEvent(event: LoggedEvent): boolean {
    if (event.topic !== 'detection') return false;
    const detection = (event.payload as { detection?: Detection }).detection;
    if (!detection || !this.sensors.has(detection.sensor_id)) return false;
    this.trackDetection(detection);
    this.changed([detection.sensor_id]);
    return true;
  }

  private trackDetection(detection: Detection): void {
    let byId = this.open.get(detection.sensor_id);
    if (!byId) this.open.set(detection.sensor_id, (byId = new Map()));
    if (detection.ended_at) byId.delete(detection.id);
    else byId.set(detection.id, detection);
    const sensor = this.sensors.get(detection.sensor_id);
    if (sensor) sensor.open_detections = byId.size;
  }

  private changed(ids: number[] | null): void {
    for (const listener of [...this.listeners]) listener(ids);
  }
}
