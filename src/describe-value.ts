const MAX_LENGTH = 500;

/**
 * A short, human-readable rendering of any value for error messages: JSON where possible
 * (`"boom"`, `42`, `{"a":1}`), something sensible otherwise. Never throws.
 */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = render(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > MAX_LENGTH ? `${text.slice(0, MAX_LENGTH)}…` : text;
}

function render(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'bigint':
      return `${value}n`;
    case 'number':
      return String(value); // NaN and Infinity, which JSON would render as null
    case 'symbol':
      return value.toString();
    case 'function':
      return value.name ? `[function ${value.name}]` : '[anonymous function]';
    default: {
      const json = JSON.stringify(value);
      return json === undefined ? String(value) : json;
    }
  }
}
