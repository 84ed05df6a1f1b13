/**
 * A response body for display: pretty-printed when it is JSON (by its
 * content type, or because it looks like an object or array), else as is.
 */
export function prettyBody(body: string, contentType: string): string {
  if (contentType.includes("json") || /^\s*[[{]/.test(body)) {
    try {
      return JSON.stringify(JSON.parse(body), null, 2);
    } catch {
      // show as is
    }
  }
  return body;
}

/** The value of a header in `[name, value]` pairs, by name in any case. */
export function headerValue(headers: [string, string][], name: string): string | undefined {
  const n = name.toLowerCase();
  return headers.find(([k]) => k.toLowerCase() === n)?.[1];
}
