import { describe, expect, it } from 'vitest';
import { checkAction } from '../../src/forms';

const route = { department: '城管执法', deadline: '2025-03-05T06:00:00Z', hours: 8, clock: 'WH', because: '06010' };

describe('action forms', () => {
  it('an extension without hours is refused with a message on the hours field', () => {
    expect(checkAction('extend', { hours: '' }, route)).toEqual({ request: null, errors: { hours: 'err_hours_extend' } });
    expect(checkAction('extend', { hours: '-2' }, route).errors.hours).toBe('err_hours_extend');
    expect(checkAction('extend', { hours: 'abc' }, route).errors.hours).toBe('err_hours_extend');
    expect(checkAction('extend', { hours: '4', note: ' 材料未到 ' }, route).request).toEqual({ action: 'extend', hours: 4, note: '材料未到' });
  });

  it('a dispatch keeps the route\'s deadline unless the hours or department change', () => {
    expect(checkAction('dispatch', { department: '城管执法', hours: '8' }, route).request).toEqual({ action: 'dispatch' });
    expect(checkAction('dispatch', { department: '园林绿化', hours: '4' }, route).request).toEqual({ action: 'dispatch', department: '园林绿化', hours: 4 });
    expect(checkAction('dispatch', { department: ' ', hours: '8' }, route).errors).toEqual({ department: 'err_department' });
    expect(checkAction('dispatch', { department: '城管执法', hours: '0' }, route).errors).toEqual({ hours: 'err_hours' });
    expect(checkAction('dispatch', { department: '城管执法', hours: '' }, null).errors).toEqual({ hours: 'err_hours' });
  });

  it('a rejection needs a reason', () => {
    expect(checkAction('reject', { note: '' }, null).errors).toEqual({ note: 'err_reject_note' });
    expect(checkAction('reject', { note: '重复上报' }, null).request).toEqual({ action: 'reject', note: '重复上报' });
  });

  it('a note over 2000 characters is refused', () => {
    expect(checkAction('register', { note: '字'.repeat(2001) }, null).errors).toEqual({ note: 'err_note_long' });
    expect(checkAction('register', {}, null).request).toEqual({ action: 'register' });
  });
});
