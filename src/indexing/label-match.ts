/**
 * Label names as users type them: case-insensitive, and any synonym of an
 * ImageNet comma list ("tabby, tabby cat") matches the whole label. Pure.
 */

const norm = (s: string): string => s.trim().toLowerCase().replace(/\s+/g, ' ');

/** The forms a stored label answers to: the full name and each comma-separated synonym. */
export function labelForms(label: string): string[] {
  const forms = new Set([norm(label)]);
  if (label.includes(',')) for (const part of label.split(',')) if (norm(part) !== '') forms.add(norm(part));
  return [...forms];
}

/** True when `query` names `label` (the full name or one of its synonyms, any case). */
export function labelMatches(query: string, label: string): boolean {
  const q = norm(query);
  return q !== '' && labelForms(label).includes(q);
}
