// One case: details, photos (thumbnails fetched with the token, full size on click), the timeline with
// actors, roles and Beijing times (flagged entries marked), the deadline countdown, and the actions this
// desk may take now.

import { ApiError, api, type CaseView, type PhotoRef } from '../api';
import { h, mount, toast } from '../dom';
import { actionLabel, deadlineLabel, getLang, roleLabel, stageLabel, t } from '../i18n';
import { debounce, onCaseChanged } from '../live';
import { STAGE_COLOURS } from '../map';
import { beijing, countdown } from '../time';
import { actionForm } from './actionform';

export function renderCase(main: HTMLElement, id: string): () => void {
  let disposed = false;
  let view: CaseView | null = null;
  let openForm: string | null = null;
  const urls: string[] = [];
  const thumbs = new Map<string, string>();

  const back = () => (location.hash = '#/');
  const page = h('div.case-page#case', { 'data-id': id }, h('div.loading', t('loading')));
  mount(main, page);

  async function load(): Promise<void> {
    try {
      view = await api.case(id);
      if (!disposed) draw();
    } catch (e) {
      if (disposed) return;
      const msg = e instanceof ApiError && (e.status === 404 || e.status === 403) ? `${t('not_found')} (${e.message})` : String((e as Error).message ?? e);
      mount(page, h('div.empty-page', h('p.error', msg), h('button.ghost', { onclick: back }, t('back'))));
    }
  }

  function thumb(p: PhotoRef): HTMLElement {
    const img = h('img', { alt: t('photos'), 'data-sha': p.sha256 });
    const box = h('button.thumb', { type: 'button', title: `${p.width}×${p.height}`, onclick: () => void full(p) }, img);
    const cached = thumbs.get(p.thumb_sha256);
    if (cached) img.src = cached;
    else
      api
        .blobUrl(p.thumb_sha256)
        .then((u) => {
          urls.push(u);
          thumbs.set(p.thumb_sha256, u);
          img.src = u;
        })
        .catch(() => box.replaceChildren(h('span.muted', t('photo_missing'))));
    return box;
  }

  async function full(p: PhotoRef): Promise<void> {
    try {
      const u = await api.blobUrl(p.sha256);
      urls.push(u);
      const close = () => lb.remove();
      const lb = h('div.backdrop.lightbox', { onclick: close, tabindex: 0, onkeydown: (e: KeyboardEvent) => {
        if (e.key !== 'Escape') return;
        e.stopPropagation();
        close();
      } }, h('img', { src: u, alt: t('photos') }));
      document.body.appendChild(lb);
      lb.focus();
    } catch (e) {
      toast(`${t('photo_missing')}: ${(e as Error).message}`, 'error');
    }
  }

  function draw(): void {
    const v = view!;
    const now = Date.now();
    const lang = getLang();
    const stage = v.stage ?? 'reported';
    const actionsBox = h('div.actions#actions');
    const formBox = h('div.form-box');
    if (!v.actions.length) actionsBox.append(h('p.muted', t('no_actions')));
    for (const a of v.actions) {
      actionsBox.append(
        h('button.action', { type: 'button', 'data-action': a, class: openForm === a ? 'active' : '', onclick: () => { openForm = openForm === a ? null : a; draw(); } }, actionLabel(a)),
      );
    }
    if (openForm && v.actions.includes(openForm)) {
      const form = actionForm(v, openForm, (after) => { view = after; openForm = null; draw(); }, () => { openForm = null; draw(); });
      formBox.append(form);
      setTimeout(() => form.querySelector<HTMLElement>('input, textarea')?.focus());
    }
    const deadline = v.timeline.deadline;
    mount(
      page,
      h(
        'div.case-head',
        h('button.ghost#back', { onclick: back }, `← ${t('back')}`),
        h('h2', v.details.description || v.details.address || v.id),
        h('span.stage.big#case-stage', { 'data-stage': stage, style: { background: STAGE_COLOURS[stage] } }, stageLabel(stage)),
        deadline && v.deadline_state !== 'no_deadline' ? h('span', { class: `deadline big ${v.deadline_state}`, id: 'countdown' }, `${deadlineLabel(v.deadline_state)} · ${countdown(deadline, now, lang)}`) : null,
        v.escalated ? h('span.badge.red', t('escalated')) : null,
      ),
      h(
        'div.case-body',
        h(
          'div.case-main',
          h(
            'dl.facts',
            fact(t('case_id'), v.id),
            fact(t('category'), `${v.details.category.code} (${v.details.category.standard})`),
            fact(t('address'), v.details.address || '—'),
            fact(t('cell'), v.cell ?? '—'),
            fact(t('location'), `${v.location.lat.toFixed(6)}, ${v.location.lon.toFixed(6)} (WGS-84${v.location.accuracy_m ? `, ±${v.location.accuracy_m} m` : ''})`),
            fact(t('reporter'), `${v.reporter} · ${v.device}`),
            fact(t('reported_at'), beijing(v.created_at)),
            fact(t('department'), v.timeline.department ?? v.route?.department ?? '—'),
            fact(t('deadline'), deadline ? `${beijing(deadline)} (${countdown(deadline, now, lang)})` : v.route?.deadline ? `${t('route')}: ${beijing(v.route.deadline)}` : '—'),
          ),
          h('h3', `${t('photos')} (${v.photos.length})`),
          v.photos.length ? h('div.photos', v.photos.map(thumb)) : h('p.muted', t('no_photos')),
          h('h3', t('timeline')),
          h(
            'ol.timeline#timeline',
            v.timeline.entries.map((e) => {
              const ev = e.event;
              const flagged = e.outcome.outcome === 'flagged';
              return h(
                'li',
                { class: flagged ? 'flagged' : '', 'data-action': ev.action },
                h('div.when', beijing(ev.at.wall_ms, true)),
                h(
                  'div.what',
                  h('b', actionLabel(ev.action)),
                  e.outcome.outcome === 'applied' && e.outcome.from !== e.outcome.to ? h('span.muted', ` → ${stageLabel(e.outcome.to)}`) : null,
                  h('span.actor', ` · ${ev.actor}（${roleLabel(ev.role)}）`),
                  ev.department ? h('div', `${t('department')}: ${ev.department}`) : null,
                  ev.deadline ? h('div', `${t('deadline')}: ${beijing(ev.deadline)}`) : null,
                  ev.assignee ? h('div', `${t('assignee')}: ${ev.assignee}`) : null,
                  ev.note ? h('div.note', ev.note) : null,
                  flagged ? h('div.flag', `⚠ ${t('flagged')}: ${(e.outcome as { reason: string }).reason}`) : null,
                ),
              );
            }),
          ),
        ),
        h('aside.case-side', h('h3', t('actions')), actionsBox, formBox),
      ),
    );
  }

  function fact(k: string, v: string): HTMLElement[] {
    return [h('dt', k), h('dd', v)];
  }

  function onKey(e: KeyboardEvent): void {
    if (e.key !== 'Escape' || e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
    if (document.querySelector('.backdrop')) return;
    back();
  }

  const refresh = debounce(() => void load(), 200);
  const off = onCaseChanged((e) => {
    // Do not redraw under a half-filled form.
    if (e.id === id && !openForm) refresh();
  });
  const tick = setInterval(() => view && !openForm && draw(), 30_000);
  document.addEventListener('keydown', onKey);
  void load();
  return () => {
    disposed = true;
    off();
    clearInterval(tick);
    document.removeEventListener('keydown', onKey);
    for (const u of urls) URL.revokeObjectURL(u);
  };
}
