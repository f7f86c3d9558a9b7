import { categories, type EditionRules, type Overrides, type QuotaTable } from './table.js';

/** The effective rules of one app: its edition's row of the table with the app's overrides on top. */
export function effectiveRules(table: QuotaTable, edition: string, overrides: Overrides | undefined): EditionRules {
  const base = table[edition] as EditionRules;
  if (overrides === undefined) return base;
  const rules: Record<string, unknown> = {};
  for (const category of categories) rules[category] = { ...base[category], ...overrides[category] };
  return Object.freeze(rules) as unknown as EditionRules;
}
