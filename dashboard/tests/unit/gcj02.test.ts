import { describe, expect, it } from 'vitest';
import { gcj02ToWgs84, isChineseTileUrl, outOfChina, wgs84ToGcj02 } from '../../src/gcj02';

describe('WGS-84 → GCJ-02', () => {
  it('matches the published reference point (coordtransform README: Tiananmen 116.404, 39.915)', () => {
    const [lon, lat] = wgs84ToGcj02(116.404, 39.915);
    expect(lon).toBeCloseTo(116.41024449916938, 12);
    expect(lat).toBeCloseTo(39.91640428150164, 12);
  });

  it('the one-step inverse of the same point matches the published gcj02→wgs84 figure to ~1e-5°', () => {
    // coordtransform's gcj02towgs84(116.404, 39.915) = [116.39775550083061, 39.91359571849836] is a
    // single-step approximation; the iteration here is exact, so the two agree to a few metres.
    const [lon, lat] = gcj02ToWgs84(116.404, 39.915);
    expect(Math.abs(lon - 116.39775550083061)).toBeLessThan(2e-5);
    expect(Math.abs(lat - 39.91359571849836)).toBeLessThan(2e-5);
  });

  it('shifts Xicheng by a few hundred metres, as the domain README says (up to ~670 m)', () => {
    const [lon, lat] = wgs84ToGcj02(116.366, 39.912);
    const dx = (lon - 116.366) * 111320 * Math.cos((39.912 * Math.PI) / 180);
    const dy = (lat - 39.912) * 110540;
    const metres = Math.hypot(dx, dy);
    expect(metres).toBeGreaterThan(300);
    expect(metres).toBeLessThan(700);
  });

  it('round-trips through the iterative inverse to under a millimetre', () => {
    for (const [lon, lat] of [
      [116.366, 39.912],
      [114.0579, 22.5431], // Shenzhen
      [121.4737, 31.2304], // Shanghai
      [87.6168, 43.8256], // Urumqi
    ]) {
      const [gx, gy] = wgs84ToGcj02(lon, lat);
      const [wx, wy] = gcj02ToWgs84(gx, gy);
      expect(Math.abs(wx - lon)).toBeLessThan(1e-8);
      expect(Math.abs(wy - lat)).toBeLessThan(1e-8);
    }
  });

  it('leaves points outside China alone', () => {
    expect(outOfChina(2.3522, 48.8566)).toBe(true);
    expect(wgs84ToGcj02(2.3522, 48.8566)).toEqual([2.3522, 48.8566]);
    expect(outOfChina(116.404, 39.915)).toBe(false);
  });

  it('recognises Chinese tile hosts', () => {
    expect(isChineseTileUrl('https://webrd0{s}.is.autonavi.com/appmaptile?x={x}&y={y}&z={z}&style=8')).toBe(true);
    expect(isChineseTileUrl('https://tile.openstreetmap.org/{z}/{x}/{y}.png')).toBe(false);
  });
});
