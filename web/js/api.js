// The SPA's only way to the server: POST /graphql (automatic persisted queries) and the
// graphql-transport-ws subscription on the same path.

export class ApiError extends Error {
  // code: UNAUTHENTICATED, NETWORK, or the server's extensions.code.
  constructor(message, code, errors = []) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.errors = errors;
  }
}

const hashes = new Map();

async function sha256(text) {
  if (hashes.has(text)) return hashes.get(text);
  // crypto.subtle exists only in secure contexts (https, localhost): elsewhere we send the text.
  if (!globalThis.crypto || !crypto.subtle) return null;
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  hashes.set(text, hex);
  return hex;
}

function codeOf(error) {
  return (error && error.extensions && error.extensions.code) || null;
}

export class Api {
  // token: a bearer JWT or an API key (both go in `Authorization: Bearer`).
  // onUnauthenticated: called once the server refuses the credentials.
  constructor(token, { endpoint = "/graphql", onUnauthenticated = () => {} } = {}) {
    this.token = token;
    this.endpoint = endpoint;
    this.onUnauthenticated = onUnauthenticated;
    this.socket = null;
  }

  async post(body) {
    let response;
    try {
      response = await fetch(this.endpoint, {
        method: "POST",
        headers: {
          // application/json: refusals before execution come back as 200 with `errors`.
          Accept: "application/json",
          "Content-Type": "application/json",
          Authorization: `Bearer ${this.token}`,
        },
        body: JSON.stringify(body),
      });
    } catch (err) {
      throw new ApiError("The server cannot be reached. Check your connection.", "NETWORK");
    }
    let payload;
    try {
      payload = await response.json();
    } catch (err) {
      throw new ApiError(`The server answered ${response.status}.`, "NETWORK");
    }
    if (response.status === 401 || (payload.errors || []).some((e) => codeOf(e) === "UNAUTHENTICATED")) {
      this.onUnauthenticated();
      throw new ApiError("Your sign-in is no longer valid.", "UNAUTHENTICATED", payload.errors);
    }
    return payload;
  }

  // The data, or throws ApiError with the first error's message and code.
  async query(doc, variables = {}) {
    const hash = await sha256(doc);
    let payload;
    if (hash) {
      const extensions = { persistedQuery: { version: 1, sha256Hash: hash } };
      payload = await this.post({ variables, extensions });
      if ((payload.errors || []).some((e) => codeOf(e) === "PERSISTED_QUERY_NOT_FOUND")) {
        payload = await this.post({ query: doc, variables, extensions });
      }
    } else {
      payload = await this.post({ query: doc, variables });
    }
    if (payload.errors && payload.errors.length) {
      const first = payload.errors[0];
      throw new ApiError(first.message, codeOf(first) || "ERROR", payload.errors);
    }
    return payload.data;
  }

  // handlers: {next(data), error(ApiError), reconnected()}; returns unsubscribe().
  subscribe(doc, variables, handlers) {
    if (!this.socket) {
      this.socket = new Socket(this.endpoint, this.token, this.onUnauthenticated);
    }
    return this.socket.subscribe(doc, variables, handlers);
  }

  close() {
    if (this.socket) this.socket.close();
    this.socket = null;
  }
}

// graphql-transport-ws: one socket for every subscription, reopened with backoff; once a lost
// connection is back, each subscription's `reconnected` handler re-reads what it may have missed.
class Socket {
  constructor(endpoint, token, onUnauthenticated) {
    const url = new URL(endpoint, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.url = url.href;
    this.token = token;
    this.onUnauthenticated = onUnauthenticated;
    this.subs = new Map();
    this.nextId = 1;
    this.ws = null;
    this.acked = false;
    this.attempt = 0;
    this.closed = false;
    this.timer = null;
  }

  subscribe(query, variables, handlers) {
    const id = String(this.nextId++);
    this.subs.set(id, { query, variables, handlers });
    if (this.acked) this.send({ id, type: "subscribe", payload: { query, variables } });
    else this.open();
    return () => {
      if (!this.subs.delete(id)) return;
      if (this.acked) this.send({ id, type: "complete" });
    };
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  open() {
    if (this.ws || this.closed) return;
    const ws = new WebSocket(this.url, "graphql-transport-ws");
    this.ws = ws;
    ws.onopen = () => {
      this.send({ type: "connection_init", payload: { Authorization: `Bearer ${this.token}` } });
    };
    ws.onmessage = (event) => this.receive(JSON.parse(event.data));
    ws.onclose = (event) => {
      this.ws = null;
      this.acked = false;
      // Whatever was sent while no socket was up (or before this one was acknowledged) is lost.
      for (const s of this.subs.values()) s.interrupted = true;
      if (event.code === 4401 || event.code === 4403) {
        this.closed = true;
        this.onUnauthenticated();
        return;
      }
      if (!this.closed && this.subs.size) this.retry();
    };
  }

  retry() {
    const delay = Math.min(30000, 500 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt += 1;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }

  receive(message) {
    const sub = message.id ? this.subs.get(message.id) : null;
    switch (message.type) {
      case "connection_ack": {
        this.acked = true;
        this.attempt = 0;
        for (const [id, s] of this.subs) {
          this.send({ id, type: "subscribe", payload: { query: s.query, variables: s.variables } });
          if (s.interrupted && s.handlers.reconnected) s.handlers.reconnected();
          s.interrupted = false;
        }
        break;
      }
      case "ping":
        this.send({ type: "pong" });
        break;
      case "next":
        if (sub && sub.handlers.next) sub.handlers.next(message.payload.data);
        break;
      case "error":
        if (sub) {
          this.subs.delete(message.id);
          const first = (message.payload || [])[0] || {};
          if (sub.handlers.error) sub.handlers.error(new ApiError(first.message || "Subscription refused", codeOf(first) || "ERROR"));
        }
        break;
      case "complete":
        this.subs.delete(message.id);
        break;
      default:
        break;
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
  }
}
