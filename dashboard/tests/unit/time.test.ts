import { describe, expect, it } from 'vitest';
import { beijing, beijingDate, countdown } from '../../src/time';

const now = Date.parse('2025-03-04T06:00:00Z'); // 14:00 in Beijing

describe('Beijing time', () => {
  it('formats in UTC+8 whatever the browser zone', () => {
    expect(beijing('2025-03-04T06:05:09Z')).toBe('2025-03-04 14:05');
    expect(beijing('2025-03-04T06:05:09Z', true)).toBe('2025-03-04 14:05:09');
    expect(beijing('2025-03-04T17:30:00Z')).toBe('2025-03-05 01:30');
    expect(beijing(null)).toBe('—');
    expect(beijingDate(Date.parse('2025-03-31T16:00:00Z'))).toBe('2025-04-01');
  });
});

describe('deadline countdown', () => {
  it('says the time left, in minutes, hours and minutes, or days and hours', () => {
    expect(countdown('2025-03-04T06:45:00Z', now, 'zh')).toBe('剩余 45分钟');
    expect(countdown('2025-03-04T08:05:00Z', now, 'zh')).toBe('剩余 2小时05分');
    expect(countdown('2025-03-06T09:00:00Z', now, 'zh')).toBe('剩余 2天3小时');
    expect(countdown('2025-03-04T08:05:00Z', now, 'en')).toBe('2 h 05 min left');
    expect(countdown('2025-03-04T06:00:30Z', now, 'en')).toBe('0 min left');
  });

  it('says how long overdue', () => {
    expect(countdown('2025-03-04T05:30:00Z', now, 'zh')).toBe('超期 30分钟');
    expect(countdown('2025-03-03T03:00:00Z', now, 'zh')).toBe('超期 1天3小时');
    expect(countdown('2025-03-03T03:00:00Z', now, 'en')).toBe('overdue 1 d 3 h');
  });

  it('says when there is no deadline', () => {
    expect(countdown(null, now, 'zh')).toBe('无时限');
    expect(countdown('', now, 'en')).toBe('no deadline');
  });
});
