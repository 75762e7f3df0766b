// The highlighted feature (card or search result), drawn by deck.gl through the overlay registry: the
// first user of the registry, and an example for later features.
import { GeoJsonLayer } from '@deck.gl/layers';
import type { OverlayRegistry } from '../overlays/registry';
import type { Feature } from './ogc';

export const SELECTION_OVERLAY = 'selection';

export function registerSelectionOverlay(overlays: OverlayRegistry): (feature: Feature | null) => void {
  let selected: Feature | null = null;
  overlays.register({
    id: SELECTION_OVERLAY,
    order: 1000,
    layers: () =>
      selected && selected.geometry
        ? [
            new GeoJsonLayer({
              id: `${SELECTION_OVERLAY}-feature`,
              data: [selected as unknown as GeoJSON.Feature],
              stroked: true,
              filled: true,
              getFillColor: [194, 65, 12, 60],
              getLineColor: [194, 65, 12, 255],
              lineWidthUnits: 'pixels',
              getLineWidth: 3,
              pointRadiusUnits: 'pixels',
              getPointRadius: 9,
              pickable: false,
            }),
          ]
        : [],
  });
  return (feature) => {
    selected = feature;
    overlays.invalidate(SELECTION_OVERLAY);
  };
}
