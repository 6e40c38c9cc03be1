// The action forms' rules: which fields an action asks for and what counts as bad input. Pure, so that the
// unit tests check the messages a person sees next to a field.

import type { ActionRequest, Route } from './api';
import type { Key } from './i18n';

export type Field = 'note' | 'department' | 'hours' | 'assignee';

/** The fields each desk action's form shows. */
export const FIELDS: Record<string, Field[]> = {
  register: ['note'],
  reject: ['note'],
  dispatch: ['department', 'hours', 'note'],
  accept: ['note'],
  return: ['note'],
  handle: ['note'],
  feedback: ['note'],
  request_verification: ['assignee', 'note'],
  close: ['note'],
  extend: ['hours', 'note'],
  special_close: ['note'],
  remind: ['note'],
};

export interface FormInput {
  note?: string;
  department?: string;
  hours?: string;
  assignee?: string;
}

export interface Checked {
  request: ActionRequest | null;
  errors: Partial<Record<Field, Key>>;
}

/** Checks what was typed and builds the request, or says, per field, what is wrong. */
export function checkAction(action: string, input: FormInput, route: Route | null): Checked {
  const errors: Partial<Record<Field, Key>> = {};
  const req: ActionRequest = { action };
  const note = (input.note ?? '').trim();
  if (note.length > 2000) errors.note = 'err_note_long';
  else if (note) req.note = note;
  if ((action === 'reject' || action === 'return' || action === 'special_close') && !note) errors.note = 'err_reject_note';

  const hoursText = (input.hours ?? '').trim();
  const hours = Number(hoursText);
  const hoursOk = hoursText !== '' && Number.isFinite(hours) && hours > 0 && hours <= 24 * 366;
  if (action === 'dispatch') {
    const dep = (input.department ?? '').trim();
    if (!dep) errors.department = 'err_department';
    else if (dep !== route?.department) req.department = dep;
    if (hoursText === '' && !route?.deadline) errors.hours = 'err_hours';
    else if (hoursText !== '' && !hoursOk) errors.hours = 'err_hours';
    // The route's own hours: let the server keep the route's deadline (its calendar already applied).
    else if (hoursText !== '' && !(route?.hours != null && hours === route.hours && route.deadline)) req.hours = hours;
  }
  if (action === 'extend') {
    if (!hoursOk) errors.hours = 'err_hours_extend';
    else req.hours = hours;
  }
  if (action === 'request_verification') {
    const a = (input.assignee ?? '').trim();
    if (a) req.assignee = a;
  }
  return { request: Object.keys(errors).length ? null : req, errors };
}
