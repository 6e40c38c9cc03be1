// The overview: the grid map with the cases in scope, and the queue of what waits for this desk.
// Keyboard-first: j/k or arrows move, Enter opens, r registers, x rejects, d dispatches, m loads more.
// The queue shows the first QUEUE_STEP of its cases and says so ("N / M") when it holds more; loading more
// (m, the button, or moving down past the last row) fetches the next step. The map shows the newest
// MAP_CAP cases and says so when there are more.

import { ApiError, api, type CaseRow, type CaseView } from '../api';
import { h, mount, toast } from '../dom';
import { actionLabel, deadlineLabel, getLang, stageLabel, t, tf, type Key } from '../i18n';
import { debounce, onCaseChanged } from '../live';
import { GridMap, STAGE_COLOURS } from '../map';
import { MAX_PAGE, fetchFirst } from '../paging';
import { saveTileSettings, session, tileSettings } from '../state';
import { beijing, countdown } from '../time';
import { actionDialog } from './actionform';

interface Tab {
  id: string;
  label: Key;
  stages: string[] | null;
}

function tabsFor(role: string): Tab[] {
  if (role === 'department')
    return [
      { id: 'todo', label: 'queue_dept', stages: ['dispatched', 'accepted', 'rework', 'handled'] },
      { id: 'all', label: 'queue_all', stages: null },
    ];
  return [
    { id: 'register', label: 'queue_todo', stages: ['reported'] },
    { id: 'dispatch', label: 'queue_dispatch', stages: ['registered', 'returned'] },
    { id: 'verify', label: 'queue_verify', stages: ['feedback_given'] },
    { id: 'all', label: 'queue_all', stages: null },
  ];
}

/** Cases the queue shows at first, and how many more each "load more" brings. */
const QUEUE_STEP = 100;
/** Cases the map shows at most: the newest. */
const MAP_CAP = MAX_PAGE;

// Kept across re-renders (language switch, back from a case): where the dispatcher was, and how much of
// the queue was loaded.
const memory: { tab: string | null; cell: string | null; selected: string | null; want: number } = { tab: null, cell: null, selected: null, want: QUEUE_STEP };

export function renderOverview(main: HTMLElement): () => void {
  const me = session.me!;
  const tabs = tabsFor(me.role);
  if (!tabs.some((x) => x.id === memory.tab)) memory.tab = tabs[0].id;
  let rows: CaseRow[] = [];
  let total = 0;
  const views = new Map<string, CaseView>();
  let disposed = false;
  let busy = false;
  let loads = 0;
  let loadingMore = false;

  const mapEl = h('div.map#map');
  const filterChip = h('div.filter-chip');
  const mapCap = h('span.cap-note#map-cap', { role: 'status' });
  const legend = h(
    'div.legend',
    h('b', t('legend')),
    ['reported', 'registered', 'dispatched', 'accepted', 'feedback_given', 'verification_requested', 'closed'].map((s) => h('span', h('i', { style: { background: STAGE_COLOURS[s] } }), stageLabel(s))),
    h('span.sep'),
    (['on_time', 'approaching', 'overdue'] as const).map((s) => h('span', h('i.ring', { class: `ring-${s}` }), deadlineLabel(s))),
  );
  const tabBar = h('div.tabs', { role: 'tablist' });
  const list = h('ol.queue#queue', { tabindex: 0, 'aria-label': t('queue') });
  const count = h('span.count');
  const help = h('div.keys', me.role === 'department' ? t('keys_help_dept') : t('keys_help'));
  const settingsBox = tilesForm(() => map.setTiles(tileSettings()));

  mount(
    main,
    h(
      'div.overview',
      h('section.map-panel', h('div.panel-head', h('h2', t('map')), filterChip, mapCap, h('button.ghost.small', { onclick: () => settingsBox.classList.toggle('open') }, t('settings'))), settingsBox, mapEl, legend),
      h('section.queue-panel', h('div.panel-head', h('h2', me.role === 'department' ? t('queue_dept') : t('queue')), count), tabBar, list, help),
    ),
  );

  const map = new GridMap(
    mapEl,
    (cell) => {
      memory.cell = cell;
      memory.want = QUEUE_STEP;
      map.select(cell);
      renderChip();
      void load();
    },
    (id) => (location.hash = `#/case/${id}`),
  );
  map.setTiles(tileSettings());
  map.select(memory.cell);
  api.grids().then((fc) => !disposed && map.setGrids(fc)).catch((e) => toast(String(e.message ?? e), 'error'));

  function renderChip(): void {
    mount(filterChip, memory.cell ? [h('span', `${t('filter_cell')} ${memory.cell}`), h('button.ghost.small#clear-cell', { onclick: () => { memory.cell = null; memory.want = QUEUE_STEP; map.select(null); renderChip(); void load(); } }, t('clear_filter'))] : h('span.muted', t('all_cells')));
  }

  function renderTabs(): void {
    mount(
      tabBar,
      tabs.map((x) =>
        h('button.tab', { role: 'tab', 'aria-selected': String(x.id === memory.tab), class: x.id === memory.tab ? 'active' : '', 'data-tab': x.id, onclick: () => { memory.tab = x.id; memory.want = QUEUE_STEP; renderTabs(); void load(); } }, t(x.label)),
      ),
    );
  }

  function renderList(): void {
    const now = Date.now();
    const lang = getLang();
    const more = rows.length < total;
    count.textContent = more ? tf('shown_of', { n: rows.length, m: total }) : `${t('total')} ${total} ${t('items')}`;
    if (!rows.length) {
      mount(list, h('li.empty', t('queue_empty')));
      return;
    }
    if (!rows.some((r) => r.id === memory.selected)) memory.selected = rows[0].id;
    mount(
      list,
      rows.map((r) => {
        const state = r.deadline_state;
        return h(
          'li.row',
          {
            'data-id': r.id,
            'data-stage': r.stage,
            class: r.id === memory.selected ? 'selected' : '',
            onclick: () => select(r.id),
            ondblclick: () => open(r.id),
          },
          h('span.stage', { style: { background: STAGE_COLOURS[r.stage] } }, stageLabel(r.stage)),
          h('div.row-main', h('div.summary', r.summary || r.address || r.id), h('div.meta', `${r.cell ?? '—'} · ${r.address || '—'} · ${beijing(r.created_at)}`), r.department ? h('div.meta', `${t('department')}: ${r.department}`) : null),
          h('div.row-side', r.deadline && state !== 'no_deadline' ? h('span', { class: `deadline ${state}` }, countdown(r.deadline, now, lang)) : null, r.escalated ? h('span.badge.red', t('escalated')) : null),
        );
      }),
      more ? h('li.more', h('button.small#queue-more', { type: 'button', onclick: () => void loadMore() }, `${t('load_more')} (m) · ${tf('shown_of', { n: rows.length, m: total })}`)) : null,
    );
    list.querySelector('.selected')?.scrollIntoView({ block: 'nearest' });
  }

  function select(id: string): void {
    memory.selected = id;
    for (const li of list.querySelectorAll('li.row')) li.classList.toggle('selected', (li as HTMLElement).dataset.id === id);
    list.querySelector('.selected')?.scrollIntoView({ block: 'nearest' });
  }

  function open(id: string): void {
    location.hash = `#/case/${id}`;
  }

  async function load(): Promise<void> {
    const tab = tabs.find((x) => x.id === memory.tab)!;
    const cell = memory.cell ?? undefined;
    // Loads overlap (live events, tab clicks): only the latest one shows.
    const mine = ++loads;
    try {
      // The map: the newest cases in scope. The queue: the tab's stages oldest first (all cases: newest
      // first), as many as were loaded so far.
      const [all, queue] = await Promise.all([
        api.cases({ cell, limit: MAP_CAP }),
        fetchFirst((offset, limit) => api.cases({ stage: tab.stages ?? undefined, cell, order: tab.stages ? 'oldest' : 'newest', offset, limit }), memory.want),
      ]);
      if (disposed || mine !== loads) return;
      map.setCases(all.items, (r) => r.deadline_state);
      mapCap.textContent = all.items.length < all.total ? tf('map_capped', { n: all.items.length, m: all.total }) : '';
      rows = queue.items;
      total = queue.total;
      views.clear();
      renderList();
    } catch (e) {
      if (!disposed) toast(e instanceof ApiError ? e.message : String(e), 'error');
    }
  }

  /** The next step of the queue; then the first new row is selected, as moving down would. */
  async function loadMore(): Promise<void> {
    if (loadingMore || rows.length >= total) return;
    loadingMore = true;
    const before = rows.length;
    memory.want = Math.max(memory.want, before) + QUEUE_STEP;
    try {
      await load();
    } finally {
      loadingMore = false;
    }
    if (disposed) return;
    if (rows[before]) select(rows[before].id);
    list.focus();
  }

  async function viewOf(id: string): Promise<CaseView> {
    let v = views.get(id);
    if (!v) {
      v = await api.case(id);
      views.set(id, v);
    }
    return v;
  }

  async function quick(action: string): Promise<void> {
    const id = memory.selected;
    if (!id || busy) return;
    busy = true;
    try {
      const v = await viewOf(id);
      if (!v.actions.includes(action)) {
        toast(`${actionLabel(action)}: ${t('no_actions')}`, 'error');
        return;
      }
      let after: CaseView | null;
      if (action === 'register') {
        after = await api.act(id, { action });
        toast(`${actionLabel(action)} · ${t('done')}`);
      } else {
        after = await actionDialog(v, action);
      }
      if (after) {
        // Move on to the next case in the queue, as a dispatcher working down the list expects.
        const i = rows.findIndex((r) => r.id === id);
        memory.selected = rows[i + 1]?.id ?? rows[i - 1]?.id ?? null;
        await load();
      }
    } catch (e) {
      toast(e instanceof ApiError ? e.message : String(e), 'error');
    } finally {
      busy = false;
      list.focus();
    }
  }

  function onKey(e: KeyboardEvent): void {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || document.querySelector('.backdrop')) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    // A focused button (a tab, "load more") takes its own Enter and Space.
    if (e.target instanceof HTMLButtonElement && (e.key === 'Enter' || e.key === ' ')) return;
    const i = rows.findIndex((r) => r.id === memory.selected);
    switch (e.key) {
      case 'j':
      case 'ArrowDown':
        // Past the last loaded row of a longer queue: load the next step.
        if (rows.length && i === rows.length - 1 && rows.length < total) void loadMore();
        else if (rows.length) select(rows[Math.min(rows.length - 1, i + 1)].id);
        break;
      case 'm':
        void loadMore();
        break;
      case 'k':
      case 'ArrowUp':
        if (rows.length) select(rows[Math.max(0, i - 1)].id);
        break;
      case 'Enter':
        if (memory.selected) open(memory.selected);
        break;
      case 'r':
        void quick('register');
        break;
      case 'x':
        void quick('reject');
        break;
      case 'd':
        void quick('dispatch');
        break;
      default:
        return;
    }
    e.preventDefault();
  }

  document.addEventListener('keydown', onKey);
  const refresh = debounce(() => void load(), 250);
  const off = onCaseChanged(() => refresh());
  const tick = setInterval(renderList, 30_000);
  renderChip();
  renderTabs();
  void load();
  setTimeout(() => list.focus());

  return () => {
    disposed = true;
    document.removeEventListener('keydown', onKey);
    off();
    clearInterval(tick);
    map.destroy();
  };
}

function tilesForm(onSave: () => void): HTMLElement {
  const s = tileSettings();
  const url = h('input#tiles-url', { type: 'url', value: s.url, placeholder: 'https://…/{z}/{x}/{y}.png' });
  const gcj = h('input#tiles-gcj', { type: 'checkbox', checked: s.gcj02 });
  return h(
    'form.tiles-form',
    {
      onsubmit: (e: Event) => {
        e.preventDefault();
        saveTileSettings({ url: url.value.trim(), gcj02: gcj.checked });
        onSave();
      },
    },
    h('label', { for: 'tiles-url' }, t('tiles_url')),
    url,
    h('div.hint', t('tiles_hint')),
    h('label.check', gcj, t('tiles_gcj')),
    h('button.primary.small', { type: 'submit' }, t('save')),
  );
}
