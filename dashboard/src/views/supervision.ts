// Supervision (督办): the cases a department holds that are approaching or past their deadline, grouped by
// department, with a reminder (escalation to the department) per case and, for supervisors, a pass now.
// The server picks them (deadline_state=approaching,overdue, measured on each case's clock and the work
// calendar) and sorts them by deadline, most overdue first; the page shows the first SUP_STEP and says
// "N / M" with a "load more" when there are more. The overdue and approaching counts are the server's totals.

import { ApiError, api, type CaseRow } from '../api';
import { h, mount, toast } from '../dom';
import { actionLabel, deadlineLabel, getLang, stageLabel, t, tf } from '../i18n';
import { debounce, onCaseChanged } from '../live';
import { session } from '../state';
import { fetchFirst } from '../paging';
import { beijing, countdown } from '../time';

/** Cases shown at first, and how many more each "load more" brings. */
const SUP_STEP = 200;

export function renderSupervision(main: HTMLElement): () => void {
  const me = session.me!;
  let disposed = false;
  const body = h('div.sup-body', h('div.loading', t('loading')));
  const canRemind = me.role === 'dispatcher' || me.role === 'supervisor';
  const summary = h('span.count');
  const shown = h('span.count#sup-shown');
  const footer = h('div.sup-more');
  let want = SUP_STEP;
  let loads = 0;
  mount(
    main,
    h(
      'div.page#supervision',
      h(
        'div.page-head',
        h('h2', t('supervision')),
        h('p.muted', t('sup_intro')),
        summary,
        shown,
        h('div.spacer'),
        me.role === 'supervisor'
          ? h('button.primary#run-supervision', {
              onclick: async () => {
                try {
                  const r = await api.runSupervision();
                  toast(`${t('sup_ran')}: ${r.checked} / ${r.reminded} / ${r.escalated}`);
                  void load();
                } catch (e) {
                  toast(e instanceof ApiError ? e.message : String(e), 'error');
                }
              },
            }, t('sup_run'))
          : null,
      ),
      body,
      footer,
    ),
  );

  async function load(): Promise<void> {
    const mine = ++loads;
    try {
      const [page, overdueOnly, approachingOnly] = await Promise.all([
        fetchFirst((offset, limit) => api.cases({ deadline_state: ['approaching', 'overdue'], order: 'deadline', offset, limit }), want),
        api.cases({ deadline_state: 'overdue', limit: 1 }),
        api.cases({ deadline_state: 'approaching', limit: 1 }),
      ]);
      if (disposed || mine !== loads) return;
      const now = Date.now();
      const watched = page.items.map((r) => ({ r, state: r.deadline_state }));
      const groups = new Map<string, { r: CaseRow; state: string }[]>();
      for (const x of watched) {
        const k = x.r.department ?? '—';
        if (!groups.has(k)) groups.set(k, []);
        groups.get(k)!.push(x);
      }
      summary.textContent = `${t('overdue_n')} ${overdueOnly.total} · ${t('approaching_n')} ${approachingOnly.total}`;
      const more = watched.length < page.total;
      shown.textContent = more ? tf('shown_of', { n: watched.length, m: page.total }) : '';
      mount(footer, more ? h('button#sup-more', { type: 'button', onclick: () => void loadMore() }, `${t('load_more')} · ${tf('shown_of', { n: watched.length, m: page.total })}`) : null);
      if (!watched.length) {
        mount(body, h('p.empty', t('sup_empty')));
        return;
      }
      const lang = getLang();
      mount(
        body,
        [...groups.entries()].map(([dep, items]) =>
          h(
            'section.sup-group',
            { 'data-department': dep },
            h('h3', dep, h('span.count', ` ${items.filter((x) => x.state === 'overdue').length} ${t('overdue_n')} / ${items.length}`)),
            h(
              'table.grid',
              h('thead', h('tr', h('th', t('case')), h('th', t('cell')), h('th', t('stage')), h('th', t('deadline')), h('th', t('countdown')), h('th', ''))),
              h(
                'tbody',
                items.map(({ r, state }) =>
                  h(
                    'tr',
                    { 'data-id': r.id, class: state },
                    h('td', h('a', { href: `#/case/${r.id}` }, r.summary || r.address || r.id)),
                    h('td', r.cell ?? '—'),
                    h('td', stageLabel(r.stage)),
                    h('td', beijing(r.deadline)),
                    h('td', h('span', { class: `deadline ${state}`, title: deadlineLabel(state) }, countdown(r.deadline, now, lang)), r.escalated ? h('span.badge.red', t('escalated')) : null),
                    h('td', canRemind ? h('button.small.remind', { onclick: (e: Event) => void remind(r.id, e.currentTarget as HTMLButtonElement) }, actionLabel('remind')) : null),
                  ),
                ),
              ),
            ),
          ),
        ),
      );
    } catch (e) {
      if (!disposed) mount(body, h('p.error', e instanceof ApiError ? e.message : String(e)));
    }
  }

  /** The next step; then the first new case's link has the focus, for whoever came by keyboard. */
  async function loadMore(): Promise<void> {
    const before = body.querySelectorAll('tr[data-id]').length;
    want = Math.max(want, before) + SUP_STEP;
    await load();
    (body.querySelectorAll('tr[data-id] a')[before] as HTMLElement | undefined)?.focus();
  }

  async function remind(id: string, button: HTMLButtonElement): Promise<void> {
    button.disabled = true;
    try {
      await api.act(id, { action: 'remind', note: getLang() === 'zh' ? '请抓紧处置（指挥中心督办）' : 'Please act now (command centre reminder)' });
      toast(t('reminded'));
      button.textContent = t('reminded');
    } catch (e) {
      button.disabled = false;
      toast(e instanceof ApiError ? e.message : String(e), 'error');
    }
  }

  const refresh = debounce(() => void load(), 300);
  const off = onCaseChanged(() => refresh());
  const tick = setInterval(() => void load(), 60_000);
  void load();
  return () => {
    disposed = true;
    off();
    clearInterval(tick);
  };
}
