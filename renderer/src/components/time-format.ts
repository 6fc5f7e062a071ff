// Nanosecond times on the session axis as people read them.

const UNITS = [
  { ns: 1e9, unit: 's' },
  { ns: 1e6, unit: 'ms' },
  { ns: 1e3, unit: 'µs' },
  { ns: 1, unit: 'ns' },
] as const;

/** A duration or an offset: "1.25 s", "340 ms", "12.5 µs"; `precisionNs` picks the unit. */
export function formatNs(valueNs: number, precisionNs: number = Math.abs(valueNs)): string {
  const scale = UNITS.find((u) => precisionNs >= u.ns) ?? UNITS[3];
  const value = valueNs / scale.ns;
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  const text = value.toFixed(scale.ns === 1 ? 0 : digits);
  const trimmed = text.includes('.') ? text.replace(/0+$/, '').replace(/\.$/, '') : text;
  return `${trimmed} ${scale.unit}`;
}

/** A table cell: seconds with microseconds, aligned ("12.345678"). */
export function formatOffsetSeconds(offsetNs: number): string {
  return (offsetNs / 1e9).toFixed(6);
}

/** Tick positions for an axis over [fromNs, toNs]: about `count` round steps. */
export function axisTicks(fromNs: number, toNs: number, count: number): number[] {
  const span = toNs - fromNs;
  if (!(span > 0) || count < 1) return [];
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  for (let t = Math.ceil(fromNs / step) * step; t <= toNs; t += step) ticks.push(t);
  return ticks;
}
