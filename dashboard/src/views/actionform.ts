// The form for one desk action: the fields it needs (pre-filled from the case's route for a dispatch),
// a clear message next to a field with bad input, and the server's refusal shown in the form.

import { ApiError, api, type CaseView } from '../api';
import { h, toast } from '../dom';
import { FIELDS, checkAction, type Field } from '../forms';
import { actionLabel, t, type Key } from '../i18n';
import { beijing } from '../time';

const LABELS: Record<Field, Key> = { note: 'note', department: 'department', hours: 'hours', assignee: 'assignee' };

export function actionForm(view: CaseView, action: string, onDone: (v: CaseView) => void, onCancel: () => void): HTMLFormElement {
  const fields = FIELDS[action] ?? ['note'];
  const inputs: Partial<Record<Field, HTMLInputElement | HTMLTextAreaElement>> = {};
  const errors: Partial<Record<Field, HTMLElement>> = {};
  const route = view.route;
  const rows = fields.map((f) => {
    const id = `f-${action}-${f}`;
    const input =
      f === 'note'
        ? h('textarea', { id, name: f, rows: 2, maxlength: 2100 })
        : h('input', { id, name: f, type: f === 'hours' ? 'number' : 'text', step: f === 'hours' ? 'any' : undefined, min: f === 'hours' ? '0' : undefined, autocomplete: 'off' });
    if (action === 'dispatch' && f === 'department') input.value = route?.department ?? view.timeline.department ?? '';
    if (action === 'dispatch' && f === 'hours' && route?.hours != null) input.value = String(route.hours);
    if (f === 'assignee') input.placeholder = t('assignee_hint');
    inputs[f] = input;
    input.addEventListener('input', () => {
      errors[f]!.textContent = '';
      input.classList.remove('invalid');
    });
    const err = h('div.field-error', { id: `${id}-error`, role: 'alert' });
    errors[f] = err;
    input.setAttribute('aria-describedby', `${id}-error`);
    const extra =
      action === 'dispatch' && f === 'hours' && route?.deadline
        ? h('div.hint', `${t('route')}: ${route.because ?? ''} → ${t('deadline_at')} ${beijing(route.deadline)}`)
        : null;
    return h('div.field', h('label', { for: id }, t(LABELS[f])), input, err, extra);
  });
  const formError = h('div.form-error', { role: 'alert' });
  const submit = h('button.primary', { type: 'submit', 'data-action': action }, `${t('confirm')}：${actionLabel(action)}`);
  const form = h(
    'form.action-form',
    {
      'data-form': action,
      // Our own messages, next to the field, instead of the browser's bubbles.
      novalidate: true,
      onsubmit: async (e: Event) => {
        e.preventDefault();
        for (const f of fields) {
          errors[f]!.textContent = '';
          inputs[f]!.classList.remove('invalid');
        }
        formError.textContent = '';
        const checked = checkAction(action, { note: inputs.note?.value, department: inputs.department?.value, hours: inputs.hours?.value, assignee: inputs.assignee?.value }, route);
        if (!checked.request) {
          let first: HTMLElement | null = null;
          for (const [f, key] of Object.entries(checked.errors) as [Field, Key][]) {
            errors[f]!.textContent = t(key);
            inputs[f]!.classList.add('invalid');
            first ??= inputs[f]!;
          }
          first?.focus();
          return;
        }
        submit.disabled = true;
        try {
          const after = await api.act(view.id, checked.request);
          toast(`${actionLabel(action)} · ${t('done')}`);
          onDone(after);
        } catch (err) {
          const msg = err instanceof ApiError ? (err.status === 0 ? t('err_network') : err.message) : String(err);
          // A field the server complained about gets the message next to it.
          const field: Field | null = err instanceof ApiError ? (err.code.includes('hours') || err.code.includes('deadline') ? 'hours' : err.code.includes('department') || err.code === 'no_route' ? 'department' : err.code.includes('note') ? 'note' : err.code.includes('worker') ? 'assignee' : null) : null;
          if (field && errors[field]) {
            errors[field]!.textContent = msg;
            inputs[field]!.classList.add('invalid');
          } else formError.textContent = msg;
        } finally {
          submit.disabled = false;
        }
      },
      onkeydown: (e: KeyboardEvent) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          e.stopPropagation();
          onCancel();
        }
      },
    },
    h('h3', actionLabel(action)),
    rows,
    formError,
    h('div.buttons', submit, h('button.ghost', { type: 'button', onclick: onCancel }, t('cancel'))),
  );
  return form;
}

/** The form in a modal dialog (from the queue's keyboard shortcuts). Resolves with the updated case, or null. */
export function actionDialog(view: CaseView, action: string): Promise<CaseView | null> {
  return new Promise((resolve) => {
    const close = (v: CaseView | null) => {
      backdrop.remove();
      resolve(v);
    };
    const form = actionForm(view, action, (v) => close(v), () => close(null));
    const backdrop = h('div.backdrop', { onclick: (e: Event) => e.target === backdrop && close(null) }, h('div.dialog', { role: 'dialog', 'aria-modal': 'true' }, h('div.dialog-case', view.details.description || view.details.address), form));
    document.body.appendChild(backdrop);
    const first = form.querySelector<HTMLElement>('input, textarea');
    first?.focus();
    if (first instanceof HTMLInputElement) first.select();
  });
}
