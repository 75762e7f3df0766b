// The incidents on the map (deck.gl, through the overlay registry): one disc per open incident, sized by
// priority and coloured by severity, with a white ring (a wider, pale one while it is new). A click opens
// the incident's detail.
import { ScatterplotLayer } from '@deck.gl/layers';
import type { Layer, PickingInfo } from '@deck.gl/core';
import type { Map as MapLibreMap } from 'maplibre-gl';
import { mapPicker } from '../console/mappick';
import type { OverlayRegistry } from '../overlays/registry';
import { ownOverlay } from '../overlays/owned';
import { hexToRgba } from '../routing/format';
import { markerRadiusPx, severityColour, type Incident } from './model';
import type { IncidentStore } from './store';

export const INCIDENTS_OVERLAY = 'incidents';

/**
 * Whether the click being handled began while a panel held the map pick (a point being placed): such a
 * click belongs to that panel, not to the markers under it. The pick is released by the console's click
 * handler, which may run before deck.gl's, so the state is read when the button goes down.
 */
export function pickGuard(map: MapLibreMap): { picking(): boolean; detach(): void } {
  let picking = false;
  const down = () => (picking = mapPicker.owner() !== null);
  map.on('mousedown', down);
  map.on('touchstart', down);
  return {
    picking: () => picking,
    detach: () => {
      map.off('mousedown', down);
      map.off('touchstart', down);
    },
  };
}

export function registerIncidentsOverlay(
  overlays: OverlayRegistry,
  map: MapLibreMap,
  store: () => IncidentStore | null,
  open: (id: number) => void,
): { unregister: () => void; redraw: () => void } {
  const guard = pickGuard(map);
  const layers = (): Layer[] => {
    const current = store();
    const shown = (current?.all() ?? []).filter((i) => i.status !== 'resolved' && Number.isFinite(i.lon) && Number.isFinite(i.lat));
    if (!shown.length || !current) return [];
    return [
      new ScatterplotLayer<Incident>({
        id: `${INCIDENTS_OVERLAY}-markers`,
        data: shown,
        getPosition: (i) => [i.lon, i.lat],
        getRadius: (i) => markerRadiusPx(i.priority),
        getFillColor: (i) => hexToRgba(severityColour(i.severity).background, 235),
        getLineColor: (i) => (current.isFresh(i.id) ? [255, 214, 0, 255] : [255, 255, 255, 255]),
        getLineWidth: (i) => (current.isFresh(i.id) ? 5 : 2),
        radiusUnits: 'pixels',
        lineWidthUnits: 'pixels',
        stroked: true,
        pickable: true,
        onClick: (info: PickingInfo<Incident>) => {
          if (info.object && !guard.picking()) open(info.object.id);
          return true;
        },
        updateTriggers: {
          getLineColor: [Date.now()],
          getLineWidth: [Date.now()],
        },
      }),
    ];
  };
  const unregister = ownOverlay(overlays, { id: INCIDENTS_OVERLAY, order: 500 }, layers);
  return {
    unregister: () => {
      guard.detach();
      unregister();
    },
    redraw: () => overlays.invalidate(INCIDENTS_OVERLAY),
  };
}
