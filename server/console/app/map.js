// The map: no base tiles by default — the grid layer itself is the map.
// Cells are polygons coloured by their open or overdue cases (a
// choropleth), streets and communities are outlined from the cells' code
// hierarchy, reports are clustered markers, and a patrol's track is drawn
// with its flagged jumps. A city's own tile service (session.base_layer)
// goes under the cells when configured.

import { api } from './api.js';
import { t, named } from './i18n.js';
import { h } from './dom.js';
import * as state from './state.js';
import { categoryName, setCells, streetName } from './meta.js';
import { shortId, localClock } from './format.js';

const L = window.L;

// Choropleth classes: upper bounds of each colour step.
const STEPS = {
  open: [[0, '#f3f5f1'], [1, '#fde4b0'], [3, '#f9b26b'], [6, '#ef7d3c'], [Infinity, '#c24a1c']],
  overdue: [[0, '#f3f5f1'], [1, '#f7b4ae'], [3, '#e8675d'], [Infinity, '#a3121f']],
};

function colour(metric, n) {
  for (const [max, c] of STEPS[metric]) if (n <= max) return c;
  return '#000';
}

export class GridMap {
  constructor(el, session, handlers) {
    this.handlers = handlers;
    this.metric = state.get('metric') === 'overdue' ? 'overdue' : 'open';
    this.cellLayers = new Map();
    this.features = [];
    this.map = L.map(el, {
      preferCanvas: true,
      zoomSnap: 0.25,
      // Without tiles nothing bounds the zoom, and the marker clusterer
      // builds one level per zoom step: it needs a finite maximum.
      minZoom: 3,
      maxZoom: 20,
      attributionControl: !!session.base_layer,
      keyboard: true,
    });
    this.svg = L.svg({ padding: 0.5 });
    if (session.base_layer && session.base_layer.url) {
      L.tileLayer(session.base_layer.url, {
        attribution: session.base_layer.attribution || '',
        maxZoom: 20,
      }).addTo(this.map);
    }
    this.cells = L.layerGroup().addTo(this.map);
    this.outlines = L.layerGroup().addTo(this.map);
    this.unvisited = L.layerGroup().addTo(this.map);
    this.markers = L.markerClusterGroup({
      chunkedLoading: true,
      showCoverageOnHover: false,
      maxClusterRadius: 45,
    }).addTo(this.map);
    this.track = L.layerGroup().addTo(this.map);
    this.selection = L.layerGroup().addTo(this.map);
    this.legend = this.legendControl().addTo(this.map);
    this.map.on('moveend', () => this.moved());
  }

  /** Loads the cells the user may see; fits them unless the URL holds a view. */
  async loadGrid() {
    const fc = await api('/api/grid');
    this.features = fc.features || [];
    setCells(this.features);
    this.drawCells();
    this.drawOutlines();
    const view = parseView(state.get('view'));
    if (view) {
      this.map.setView([view.lat, view.lon], view.zoom);
    } else if (this.features.length) {
      this.fitCells();
    } else {
      this.map.setView([0, 0], 2);
    }
    return this.features;
  }

  /** Fits the map to every cell, from their coordinates (no second layer built for it). */
  fitCells() {
    let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
    for (const f of this.features) {
      for (const ring of rings(f.geometry)) {
        for (const [x, y] of ring) {
          if (x < w) w = x;
          if (x > e) e = x;
          if (y < s) s = y;
          if (y > n) n = y;
        }
      }
    }
    if (w <= e && s <= n) this.map.fitBounds([[s, w], [n, e]], { padding: [12, 12] });
  }

  /** New open/overdue counts (after steps and new reports): restyles in place. */
  async refreshCounts() {
    const fc = await api('/api/grid');
    this.features = fc.features || [];
    for (const f of this.features) {
      const layer = this.cellLayers.get(f.properties.code);
      if (layer) {
        layer.feature = f;
        layer.setStyle(this.cellStyle(f));
      }
    }
  }

  cellStyle(f) {
    const n = (this.metric === 'overdue' ? f.properties.overdue : f.properties.open) || 0;
    return {
      color: '#7d8a80',
      weight: 0.8,
      fillColor: colour(this.metric, n),
      fillOpacity: 0.85,
    };
  }

  drawCells() {
    this.cells.clearLayers();
    this.cellLayers.clear();
    const layer = L.geoJSON({ type: 'FeatureCollection', features: this.features }, {
      style: (f) => this.cellStyle(f),
      onEachFeature: (f, l) => {
        this.cellLayers.set(f.properties.code, l);
        l.bindTooltip(() => cellTooltip(l.feature), { sticky: true, direction: 'top' });
        l.on('click', () => this.handlers.onCell?.(f.properties.code));
      },
    });
    this.cells.addLayer(layer);
  }

  /**
   * Street and community boundaries without any polygon union: an edge of
   * a cell is a boundary when the cell on its other side belongs to another
   * street (or community), or when no cell lies there. Neighbouring cells
   * share their vertices exactly, so an edge is found by its two ends.
   */
  drawOutlines() {
    this.outlines.clearLayers();
    const edges = new Map();
    const key = (p) => `${p[0].toFixed(7)},${p[1].toFixed(7)}`;
    for (const f of this.features) {
      const street = f.properties.street || '';
      const community = `${street}/${f.properties.community || ''}`;
      for (const ring of rings(f.geometry)) {
        for (let i = 1; i < ring.length; i++) {
          const a = ring[i - 1];
          const b = ring[i];
          const ka = key(a);
          const kb = key(b);
          if (ka === kb) continue;
          const k = ka < kb ? ka + '|' + kb : kb + '|' + ka;
          let e = edges.get(k);
          if (!e) {
            e = { a, b, streets: new Set(), communities: new Set(), count: 0 };
            edges.set(k, e);
          }
          e.count += 1;
          e.streets.add(street);
          e.communities.add(community);
        }
      }
    }
    const streets = [];
    const communities = [];
    for (const e of edges.values()) {
      const seg = [[e.a[1], e.a[0]], [e.b[1], e.b[0]]];
      if (e.count === 1 || e.streets.size > 1) streets.push(seg);
      else if (e.communities.size > 1) communities.push(seg);
    }
    if (communities.length) {
      this.outlines.addLayer(L.polyline(communities, {
        color: '#4a5a66', weight: 1.6, dashArray: '5 4', interactive: false,
      }));
    }
    if (streets.length) {
      this.outlines.addLayer(L.polyline(streets, { color: '#1f2d3a', weight: 3, interactive: false }));
    }
  }

  setMetric(metric) {
    this.metric = metric === 'overdue' ? 'overdue' : 'open';
    for (const layer of this.cellLayers.values()) layer.setStyle(this.cellStyle(layer.feature));
    this.legend.remove();
    this.legend = this.legendControl().addTo(this.map);
  }

  legendControl() {
    const control = L.control({ position: 'bottomright' });
    control.onAdd = () => {
      const box = h('div', { class: 'gw-legend', role: 'group', 'aria-label': t('map.legend') },
        h('div', { class: 'gw-legend-title', text: t(`map.metric.${this.metric}`) }));
      let low = 0;
      for (const [max, c] of STEPS[this.metric]) {
        const label = max === Infinity ? `≥ ${low}` : (low === max ? `${max}` : `${low}–${max}`);
        box.append(h('div', { class: 'gw-legend-row' },
          h('span', { class: 'gw-swatch', style: `background:${c}` }), label));
        low = max + 1;
      }
      box.append(h('div', { class: 'gw-legend-row' },
        h('span', { class: 'gw-swatch gw-swatch-line' }), t('map.street_line')));
      L.DomEvent.disableClickPropagation(box);
      return box;
    };
    return control;
  }

  /** Report markers, clustered: [{id, lon, lat, status, category, overdue}]. */
  setMarkers(list) {
    this.markers.clearLayers();
    const layers = [];
    for (const r of list) {
      if (!Number.isFinite(r.lat) || !Number.isFinite(r.lon)) continue;
      const m = L.marker([r.lat, r.lon], {
        icon: L.divIcon({
          className: `gw-marker status-${r.status}${r.overdue ? ' overdue' : ''}`,
          iconSize: [14, 14],
        }),
        title: `${shortId(r.id)} · ${named('status', r.status)} · ${categoryName(r.category)}`,
        alt: shortId(r.id),
        keyboard: true,
      });
      m.on('add', () => {
        const el = m.getElement();
        if (el) el.dataset.id = r.id;
      });
      // With `keyboard`, Leaflet makes the marker focusable and Enter clicks it.
      m.on('click', () => this.handlers.onReport?.(r.id));
      layers.push(m);
    }
    this.markers.addLayers(layers);
  }

  /** Highlights a case's cell and places a pin on its report. */
  selectCase(report, { pan = true } = {}) {
    this.selection.clearLayers();
    if (!report) return;
    const cell = this.cellLayers.get(report.cell);
    if (cell) {
      const outline = L.geoJSON(cell.feature, {
        renderer: this.svg,
        interactive: false,
        style: { className: 'gw-selected-cell', color: '#0b5cad', weight: 3, fill: false },
      });
      outline.eachLayer((l) => l.on('add', () => l.getElement()?.setAttribute('data-cell', report.cell)));
      this.selection.addLayer(outline);
    }
    if (Number.isFinite(report.lat) && Number.isFinite(report.lon)) {
      const pin = L.marker([report.lat, report.lon], {
        icon: L.divIcon({ className: 'gw-pin', iconSize: [22, 22], iconAnchor: [11, 11] }),
        interactive: false,
        keyboard: false,
        zIndexOffset: 1000,
      });
      pin.on('add', () => {
        const el = pin.getElement();
        if (el) el.dataset.id = report.id;
      });
      this.selection.addLayer(pin);
      if (pan) {
        const z = Math.max(this.map.getZoom(), 16);
        // No zoom animation: the pin and the cell outline land together.
        this.map.setView([report.lat, report.lon], z, { animate: false });
      }
    }
  }

  /**
   * A patrol's track. A flagged fix (a GPS jump: faster than a person
   * walks) is not walked: the line goes around it, and dashed red lines
   * lead out to it and back, with a red dot on it.
   */
  showTrack(patrol) {
    this.track.clearLayers();
    if (!patrol || !patrol.track || !patrol.track.length) return;
    const pts = patrol.track.map((p) => [p[1], p[0]]);
    const jumps = new Set(patrol.jumps || []);
    const walked = pts.filter((_, i) => !jumps.has(i));
    if (walked.length > 1) {
      this.track.addLayer(L.polyline(walked, {
        renderer: this.svg, className: 'gw-track', color: '#0b5cad', weight: 3.5,
      }));
    }
    for (const i of [...jumps].sort((a, b) => a - b)) {
      if (i <= 0 || i >= pts.length) continue;
      let before = i - 1;
      while (before > 0 && jumps.has(before)) before -= 1;
      let after = i + 1;
      while (after < pts.length && jumps.has(after)) after += 1;
      const out = [pts[before], pts[i]];
      if (after < pts.length) out.push(pts[after]);
      const jump = L.polyline(out, {
        renderer: this.svg, className: 'gw-jump', color: '#d0141f', weight: 2.5, dashArray: '6 5',
      });
      jump.bindTooltip(tip(t('patrols.jump_at', { time: localClock(patrol.track[i][2]) || `#${i}` })));
      this.track.addLayer(jump);
      this.track.addLayer(L.circleMarker(pts[i], {
        renderer: this.svg, className: 'gw-jump-point', radius: 5, color: '#d0141f', fillOpacity: 1,
      }));
    }
    const first = walked[0] || pts[0];
    const last = walked[walked.length - 1] || pts[pts.length - 1];
    this.track.addLayer(L.circleMarker(first, {
      renderer: this.svg, className: 'gw-track-start', radius: 6, color: '#0a7a32', fillOpacity: 1,
    }).bindTooltip(tip(t('patrols.start'))));
    this.track.addLayer(L.circleMarker(last, {
      renderer: this.svg, className: 'gw-track-end', radius: 6, color: '#1f2d3a', fillOpacity: 1,
    }).bindTooltip(tip(t('patrols.end'))));
    this.map.fitBounds(L.latLngBounds(pts), { padding: [30, 30], maxZoom: 17 });
  }

  /** Report markers on or off (the patrols page shows the track instead). */
  showMarkers(on) {
    if (on && !this.map.hasLayer(this.markers)) this.map.addLayer(this.markers);
    if (!on && this.map.hasLayer(this.markers)) this.map.removeLayer(this.markers);
  }

  clearTrack() {
    this.track.clearLayers();
  }

  /** Outlines the cells nobody visited (hatched with a dashed border). */
  showUnvisited(codes) {
    this.unvisited.clearLayers();
    for (const code of codes || []) {
      const cell = this.cellLayers.get(code);
      if (!cell) continue;
      this.unvisited.addLayer(L.geoJSON(cell.feature, {
        renderer: this.svg,
        interactive: false,
        style: { className: 'gw-unvisited', color: '#6b2fa3', weight: 1.5, dashArray: '3 3', fillOpacity: 0.08, fillColor: '#6b2fa3' },
      }));
    }
  }

  /** "w,s,e,n" of what is on screen. */
  bbox() {
    const b = this.map.getBounds();
    const r = (x) => x.toFixed(6);
    return `${r(b.getWest())},${r(b.getSouth())},${r(b.getEast())},${r(b.getNorth())}`;
  }

  moved() {
    const c = this.map.getCenter();
    state.update({ view: `${this.map.getZoom()}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}` }, { silent: true });
    this.handlers.onMove?.();
  }

  /** After the map's box changed size (page switch, window resize). */
  resize() {
    this.map.invalidateSize();
  }
}

/** Tooltip content as an element: Leaflet would parse a string as HTML. */
function tip(text) {
  return h('span', { text });
}

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === 'Polygon') return geometry.coordinates;
  if (geometry.type === 'MultiPolygon') return geometry.coordinates.flat();
  return [];
}

function parseView(text) {
  const parts = (text || '').split('/').map(Number);
  if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x))) return null;
  return { zoom: parts[0], lat: parts[1], lon: parts[2] };
}

function cellTooltip(f) {
  const p = f.properties;
  return h('div', { class: 'gw-cell-tip' },
    h('strong', { text: p.name || p.code }),
    h('div', { text: p.code }),
    h('div', { text: streetName(p.street) }),
    h('div', { text: t('map.cell_counts', { open: p.open || 0, overdue: p.overdue || 0 }) }));
}
