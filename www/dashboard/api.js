// The only module that talks to the network: the collector's read API on this page's own
// origin, with the key in the Authorization header (never in a URL).

/** The collector answered with an error: `status`, its stable `code` and its `message`. */
export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** The collector could not be reached at all. */
export class NetworkError extends Error {}

export class Api {
  /** `key` is the API key; the API lives at the collector's root, one folder above the page. */
  constructor(key) {
    this.key = key;
    this.base = new URL('../', document.baseURI);
    this.site = null;
  }

  async get(path, params = {}) {
    const url = new URL(path, this.base);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
    }
    let response;
    try {
      response = await fetch(url, {
        headers: { Authorization: `Bearer ${this.key}`, Accept: 'application/json' },
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (error) {
      throw new NetworkError(`could not reach the collector (${error.message})`);
    }
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not JSON: a proxy's error page, say. Reported below by status.
    }
    if (!response.ok) {
      throw new ApiError(response.status, body?.code ?? `http_${response.status}`, body?.message ?? response.statusText, body);
    }
    if (body === null) throw new ApiError(response.status, 'not_json', 'the collector did not answer with JSON');
    return body;
  }

  /** The key's site and scope; remembers the site for the reports. */
  async whoami() {
    const holder = await this.get('v1/whoami');
    this.site = holder.site;
    return holder;
  }

  report(name, params) {
    return this.get(`v1/sites/${encodeURIComponent(this.site)}/${name}`, params);
  }
}
