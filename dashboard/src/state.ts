// The signed-in desk and the map settings, shared by the views.

import type { Me, Notice } from './api';
import type { TileSettings } from './map';
import { isChineseTileUrl } from './gcj02';

export const session: { me: Me | null; notices: Notice[] } = { me: null, notices: [] };

const TILES_KEY = 'gridpatrol.tiles';

/** The tile layer: `?tiles=URL` (and `&gcj02=0|1`) wins over the saved setting. */
export function tileSettings(): TileSettings {
  const q = new URLSearchParams(location.search);
  const fromQuery = q.get('tiles');
  if (fromQuery !== null) {
    const g = q.get('gcj02');
    return { url: fromQuery, gcj02: g === null ? isChineseTileUrl(fromQuery) : g === '1' || g === 'true' };
  }
  try {
    const saved = JSON.parse(localStorage.getItem(TILES_KEY) ?? 'null');
    if (saved && typeof saved.url === 'string') return { url: saved.url, gcj02: !!saved.gcj02 };
  } catch {
    /* ignore */
  }
  return { url: '', gcj02: false };
}

export function saveTileSettings(s: TileSettings): void {
  localStorage.setItem(TILES_KEY, JSON.stringify(s));
}

export function isDesk(role: string, ...roles: string[]): boolean {
  return roles.includes(role);
}
