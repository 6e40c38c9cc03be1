import { describe, expect, it } from 'vitest';
import { BOM, csvField, toCsv } from '../../src/csv';

describe('CSV export', () => {
  it('starts with a UTF-8 BOM and uses CRLF, so Excel reads the Chinese', () => {
    const text = toCsv(['部门', '按期处置率 (%)'], [['城管执法', 87.5]]);
    expect(text.startsWith(BOM)).toBe(true);
    expect(text).toBe('\uFEFF部门,按期处置率 (%)\r\n城管执法,87.5\r\n');
    // The BOM encodes as EF BB BF.
    expect([...new TextEncoder().encode(text).slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
  });

  it('quotes commas, quotes and newlines', () => {
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('说"明"')).toBe('"说""明"""');
    expect(csvField('两\n行')).toBe('"两\n行"');
  });

  it('writes empty cells for missing values and keeps numbers as numbers', () => {
    expect(csvField(null)).toBe('');
    expect(csvField(undefined)).toBe('');
    expect(csvField(0)).toBe('0');
    expect(csvField(-1.5)).toBe('-1.5');
    expect(csvField(Number.NaN)).toBe('');
  });

  it('defuses text that a spreadsheet would run as a formula', () => {
    expect(csvField('=1+1')).toBe("'=1+1");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
  });
});
