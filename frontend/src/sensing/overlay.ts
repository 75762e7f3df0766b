// The sensors on the map (deck.gl, through the overlay registry): a circle per sensor, coloured by status
// (reporting, late, silent, never heard), dark red with a wide ring when it has an open detection. A click
// opens the sensor's detail.
import { ScatterplotLayer } from '@deck.gl/layers';
import type { Layer, PickingInfo } from '@deck.gl/core';
import type { Map as MapLibreMap } from 'maplibre-gl';
import { pickGuard } from '../incidents/overlay';
import type { OverlayRegistry } from '../overlays/registry';
import { ownOverlay } from '../overlays/owned';
import { hexToRgba } from '../routing/format';
import { DETECTION_COLOUR, statusColour, type Sensor } from './model';
import type { SensorStore } from './store';

export const SENSORS_OVERLAY = 'sensors';

export function registerSensorsOverlay(
  overlays: OverlayRegistry,
  map: MapLibreMap,
  store: () => SensorStore | null,
  open: (id: number) => void,
): { unregister: () => void; redraw: () => void } {
  const guard = pickGuard(map);
  let version = 0;
  const layers = (): Layer[] => {
    const current = store();
    const shown = [...(current?.sensors.values() ?? [])].filter((s) => Number.isFinite(s.lon) && Number.isFinite(s.lat));
    if (!shown.length || !current) return [];
    const alarmed = (s: Sensor) => current.openCount(s.id) > 0;
    return [
      new ScatterplotLayer<Sensor>({
        id: `${SENSORS_OVERLAY}-circles`,
        data: shown,
        getPosition: (s) => [s.lon, s.lat],
        getRadius: (s) => (alarmed(s) ? 8 : 6),
        getFillColor: (s) => hexToRgba(alarmed(s) ? DETECTION_COLOUR : statusColour(s.status), 230),
        getLineColor: (s) => (alarmed(s) ? [255, 214, 0, 255] : [255, 255, 255, 255]),
        getLineWidth: (s) => (alarmed(s) ? 3 : 1.5),
        radiusUnits: 'pixels',
        lineWidthUnits: 'pixels',
        stroked: true,
        pickable: true,
        onClick: (info: PickingInfo<Sensor>) => {
          if (info.object && !guard.picking()) open(info.object.id);
          return true;
        },
        updateTriggers: { getRadius: version, getFillColor: version, getLineColor: version, getLineWidth: version },
      }),
    ];
  };
  const unregister = ownOverlay(overlays, { id: SENSORS_OVERLAY, order: 450 }, layers);
  return {
    unregister: () => {
      guard.detach();
      unregister();
    },
    redraw: () => {
      version += 1;
      overlays.invalidate(SENSORS_OVERLAY);
    },
  };
}
