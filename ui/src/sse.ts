/**
 * A server-sent-events reader over fetch + ReadableStream (EventSource cannot POST).
 *
 * Network reads split the stream anywhere: inside a multi-byte UTF-8 character
 * (the streaming TextDecoder keeps the partial bytes) and between the `\r` and
 * `\n` of a CRLF (`pendingCR` remembers it so no empty line is invented, which
 * would dispatch an event early). Follows the WHATWG event-stream rules.
 */

export interface SSEEvent {
  event: string;
  data: string;
  id?: string;
}

export class SSEParser {
  private decoder = new TextDecoder("utf-8");
  private line = "";
  private pendingCR = false;
  private sawFirstChar = false;
  private eventType = "";
  private dataLines: string[] = [];
  private id: string | undefined;

  /** Feed the next network chunk; returns the events it completed. */
  push(chunk: Uint8Array): SSEEvent[] {
    return this.consume(this.decoder.decode(chunk, { stream: true }));
  }

  /** End of stream: an event without its closing blank line is dropped, as the spec says. */
  end(): SSEEvent[] {
    const out = this.consume(this.decoder.decode());
    this.line = "";
    this.dataLines = [];
    this.eventType = "";
    return out;
  }

  private consume(text: string): SSEEvent[] {
    const out: SSEEvent[] = [];
    let start = 0;
    if (!this.sawFirstChar && text.length > 0) {
      this.sawFirstChar = true;
      if (text.charCodeAt(0) === 0xfeff) start = 1;
    }
    for (let i = start; i < text.length; i++) {
      const c = text[i];
      if (this.pendingCR) {
        this.pendingCR = false;
        if (c === "\n") {
          start = i + 1;
          continue;
        }
      }
      if (c === "\r" || c === "\n") {
        this.line += text.slice(start, i);
        this.endLine(out);
        this.pendingCR = c === "\r";
        start = i + 1;
      }
    }
    this.line += text.slice(start);
    return out;
  }

  private endLine(out: SSEEvent[]): void {
    const line = this.line;
    this.line = "";
    if (line === "") {
      if (this.dataLines.length > 0) {
        const ev: SSEEvent = { event: this.eventType || "message", data: this.dataLines.join("\n") };
        if (this.id !== undefined) ev.id = this.id;
        out.push(ev);
      }
      this.dataLines = [];
      this.eventType = "";
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.eventType = value;
    else if (field === "data") this.dataLines.push(value);
    else if (field === "id" && !value.includes("\0")) this.id = value;
  }
}

/** Yield the events of a streaming response body as they complete. */
export async function* readSSE(body: ReadableStream<Uint8Array>): AsyncGenerator<SSEEvent> {
  const parser = new SSEParser();
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      yield* parser.push(value);
    }
    yield* parser.end();
  } finally {
    reader.releaseLock();
  }
}
