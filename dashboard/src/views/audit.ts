// The audit log (审计日志), for supervisors: who did what when. Refused syncs (同步拒收) are what a
// supervisor looks for here: a PDA whose changes the server refused (a tampered app, a wrong clock, a case
// outside the worker's cells) shows up with the case and the rule it broke, while the case itself stays
// on the device. The server keeps the log; this page shows its latest entries, newest first.

import { ApiError, api, type AuditEntry } from '../api';
import { h, mount } from '../dom';
import { auditActionLabel, t, tf } from '../i18n';
import { session } from '../state';
import { beijing } from '../time';

const LIMIT = 200;

export function renderAudit(main: HTMLElement): () => void {
  let disposed = false;
  const body = h('div.audit-body', h('div.loading', t('loading')));
  const count = h('span.count#audit-refused');
  const only = h('input#audit-only', { type: 'checkbox' });
  let entries: AuditEntry[] = [];
  mount(
    main,
    h(
      'div.page#audit',
      h(
        'div.page-head',
        h('h2', t('audit')),
        h('p.muted', t('audit_intro')),
        count,
        h('div.spacer'),
        h('label.check', only, ` ${t('audit_refused_only')}`),
      ),
      body,
    ),
  );
  only.addEventListener('change', () => show());

  function show(): void {
    const rows = only.checked ? entries.filter((e) => e.action === 'sync_refused') : entries;
    count.textContent = tf('audit_refused_count', { n: entries.filter((e) => e.action === 'sync_refused').length });
    if (!rows.length) return mount(body, h('p.empty', t('audit_empty')));
    mount(
      body,
      h(
        'table.grid.audit-table',
        h('thead', h('tr', h('th', t('audit_at')), h('th', t('audit_who')), h('th', t('audit_action')), h('th', t('audit_case')), h('th', t('audit_reason')))),
        h(
          'tbody',
          rows.map((e) =>
            h(
              'tr',
              { class: e.action === 'sync_refused' ? 'refused' : '', 'data-action': e.action },
              h('td', beijing(e.at_ms, true)),
              h('td', e.principal),
              h('td', auditActionLabel(e.action)),
              h('td', e.case_id ? h('a', { href: `#/case/${e.case_id}` }, e.case_id.slice(0, 8)) : '—'),
              h('td.reason', e.reason ?? ''),
            ),
          ),
        ),
      ),
    );
  }

  async function load(): Promise<void> {
    if (session.me?.role !== 'supervisor') return mount(body, h('p.empty', t('audit_supervisor_only')));
    try {
      entries = await api.audit(LIMIT);
    } catch (e) {
      if (!disposed) mount(body, h('p.error', e instanceof ApiError ? e.message : String(e)));
      return;
    }
    if (!disposed) show();
  }
  void load();
  return () => {
    disposed = true;
  };
}
