// The grid map: cells from /api/v1/grids drawn as GeoJSON on a plain background, cases as markers
// coloured by stage (fill) and deadline state (ring). An optional tile layer; with Chinese (GCJ-02) tiles
// every WGS-84 coordinate is shifted before drawing, so cells and cases sit on the right streets.

import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import type { Feature, FeatureCollection } from 'geojson';
import type { CaseRow, DeadlineState } from './api';
import { wgs84ToGcj02 } from './gcj02';
import { deadlineLabel, stageLabel } from './i18n';

export interface TileSettings {
  url: string;
  gcj02: boolean;
}

export const STAGE_COLOURS: Record<string, string> = {
  reported: '#2563eb',
  registered: '#7c3aed',
  returned: '#db2777',
  dispatched: '#ea580c',
  accepted: '#d97706',
  rework: '#dc2626',
  handled: '#0d9488',
  feedback_given: '#0891b2',
  verification_requested: '#0284c7',
  verified: '#16a34a',
  closed: '#6b7280',
  special_closed: '#6b7280',
  rejected: '#9ca3af',
};

export const DEADLINE_COLOURS: Record<DeadlineState, string> = {
  no_deadline: '#ffffff',
  on_time: '#16a34a',
  approaching: '#f59e0b',
  overdue: '#dc2626',
};

export class GridMap {
  private map: L.Map;
  private cells: L.GeoJSON | null = null;
  private markers = L.layerGroup();
  private tiles: L.TileLayer | null = null;
  private grids: FeatureCollection | null = null;
  private selected: string | null = null;
  private fitted = false;
  private settings: TileSettings = { url: '', gcj02: false };

  constructor(
    el: HTMLElement,
    private onCell: (code: string | null) => void,
    private onCase: (id: string) => void,
  ) {
    this.map = L.map(el, { attributionControl: false, zoomSnap: 0.25, preferCanvas: false });
    this.map.setView([39.915, 116.366], 14);
    this.markers.addTo(this.map);
    this.map.on('click', () => this.onCell(null));
  }

  private project = (lon: number, lat: number): L.LatLng => {
    if (this.settings.gcj02) {
      const [x, y] = wgs84ToGcj02(lon, lat);
      return L.latLng(y, x);
    }
    return L.latLng(lat, lon);
  };

  setTiles(settings: TileSettings): void {
    const changed = settings.gcj02 !== this.settings.gcj02;
    this.settings = settings;
    this.tiles?.remove();
    this.tiles = null;
    if (settings.url) {
      this.tiles = L.tileLayer(settings.url, { maxZoom: 19, subdomains: '1234' }).addTo(this.map);
      this.tiles.bringToBack();
    }
    if (changed && this.grids) {
      this.setGrids(this.grids);
    }
  }

  setGrids(fc: FeatureCollection): void {
    this.grids = fc;
    this.cells?.remove();
    this.cells = L.geoJSON(fc, {
      coordsToLatLng: (c) => this.project(c[0], c[1]),
      style: (f) => this.cellStyle(f),
      onEachFeature: (f, layer) => {
        const p = f.properties ?? {};
        layer.bindTooltip(`${p.name ?? ''} ${p.code ?? ''}`, { sticky: true, className: 'cell-tip' });
        layer.on('click', (e) => {
          L.DomEvent.stopPropagation(e);
          this.onCell(p.code === this.selected ? null : String(p.code));
        });
        (layer as L.Path).options.className = `cell cell-${p.code}`;
      },
    }).addTo(this.map);
    this.cells.bringToBack();
    if (!this.fitted && fc.features.length) {
      this.map.fitBounds(this.cells.getBounds(), { padding: [12, 12], animate: false });
      this.fitted = true;
    }
  }

  private cellStyle(f?: Feature): L.PathOptions {
    const code = String(f?.properties?.code ?? '');
    const on = code === this.selected;
    // Two streets in two tints, so the street boundary reads at a glance.
    const street = code.slice(6, 9);
    const tint = Number(street) % 2 === 0 ? '#e0f2fe' : '#ecfccb';
    return {
      color: on ? '#1d4ed8' : '#64748b',
      weight: on ? 3 : 1,
      fillColor: on ? '#bfdbfe' : tint,
      fillOpacity: this.tiles ? 0.25 : 0.85,
    };
  }

  select(code: string | null): void {
    this.selected = code;
    this.cells?.setStyle((f) => this.cellStyle(f));
  }

  setCases(rows: CaseRow[], deadlineOf: (r: CaseRow) => DeadlineState): void {
    this.markers.clearLayers();
    for (const r of rows) {
      const state = deadlineOf(r);
      const m = L.circleMarker(this.project(r.lon, r.lat), {
        radius: 8,
        fillColor: STAGE_COLOURS[r.stage] ?? '#111827',
        fillOpacity: 0.95,
        color: DEADLINE_COLOURS[state],
        weight: state === 'no_deadline' ? 1.5 : 3.5,
        className: `case-marker case-${r.id} stage-${r.stage} deadline-${state}`,
      });
      m.bindTooltip(`${stageLabel(r.stage)} · ${deadlineLabel(state)}<br>${escapeHtml(r.summary || r.address)}`);
      m.on('click', (e) => {
        L.DomEvent.stopPropagation(e);
        this.onCase(r.id);
      });
      this.markers.addLayer(m);
    }
  }

  invalidate(): void {
    this.map.invalidateSize();
  }

  destroy(): void {
    this.map.remove();
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
