/**
 * A threshold slider on a square-root track: thresholds span 0.05 to 7 nats²,
 * so a linear track leaves the small ones (low_ent 0.069, low_vent 0.048) a
 * pixel or two. Values from the track are rounded to 3 significant digits.
 */

export const SLIDER_STEPS = 1000;

export function sliderPosition(value: number, max: number): number {
  if (!(max > 0) || !(value > 0)) return 0;
  return Math.round(Math.min(1, Math.sqrt(value / max)) * SLIDER_STEPS);
}

export function sliderValue(position: number, max: number): number {
  const u = Math.min(SLIDER_STEPS, Math.max(0, position)) / SLIDER_STEPS;
  const v = u * u * max;
  return v === 0 ? 0 : Number(v.toPrecision(3));
}
