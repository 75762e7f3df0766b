// An overlay owned by one mounted panel. The panel host may mount a panel's new instance before cleaning up
// the old one (it re-renders when the registry changes): the overlay stays registered, drawn by the latest
// instance, and only that instance's cleanup removes it.
import type { Layer } from '@deck.gl/core';
import type { OverlayDefinition, OverlayRegistry } from './registry';

const owners = new WeakMap<OverlayRegistry, Map<string, object>>();

export function ownOverlay(
  registry: OverlayRegistry,
  definition: Omit<OverlayDefinition, 'layers'>,
  layers: () => Layer[],
): () => void {
  const token = {};
  let byId = owners.get(registry);
  if (!byId) owners.set(registry, (byId = new Map()));
  byId.set(definition.id, token);
  const current = byId;
  registry.unregister(definition.id);
  registry.register({ ...definition, layers });
  return () => {
    if (current.get(definition.id) !== token) return;
    current.delete(definition.id);
    registry.unregister(definition.id);
  };
}
