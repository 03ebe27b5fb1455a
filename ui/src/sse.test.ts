import { describe, expect, it } from "vitest";
import { readSSE, SSEParser, type SSEEvent } from "./sse";

// Mixed line endings, a comment, a multi-line data field, a field without a
// space after the colon, multi-byte UTF-8 (2, 3 and 4 bytes) and an unnamed event.
const STREAM =
  "\uFEFF: keep-alive comment\r\n" +
  "event: start\r\ndata: {\"model\": \"é\"}\r\n\r\n" +
  "event: token\ndata: {\"text\": \"日本\"}\n\n" +
  "event: token\rdata:{\"text\": \"🙂 x\"}\r\r" +
  "event: multi\r\ndata: line one\r\ndata: line two\r\nid: 7\r\n\r\n" +
  "data: plain message\n\n" +
  "event: empty\n\n" +
  "event: done\r\ndata: {}\r\n\r\n" +
  "event: partial\ndata: never finished";

const EXPECTED: SSEEvent[] = [
  { event: "start", data: '{"model": "é"}' },
  { event: "token", data: '{"text": "日本"}' },
  { event: "token", data: '{"text": "🙂 x"}' },
  { event: "multi", data: "line one\nline two", id: "7" },
  { event: "message", data: "plain message", id: "7" },
  { event: "done", data: "{}", id: "7" },
];

const BYTES = new TextEncoder().encode(STREAM);

function parseChunks(chunks: Uint8Array[]): SSEEvent[] {
  const p = new SSEParser();
  const out = chunks.flatMap((c) => p.push(c));
  return [...out, ...p.end()];
}

/** A deterministic PRNG so a failure can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("SSEParser", () => {
  it("parses the whole stream in one read", () => {
    expect(parseChunks([BYTES])).toEqual(EXPECTED);
  });

  it("gives the same events split at every byte boundary", () => {
    for (let i = 0; i <= BYTES.length; i++) {
      expect(parseChunks([BYTES.slice(0, i), BYTES.slice(i)]), `split at byte ${i}`).toEqual(EXPECTED);
    }
  });

  it("gives the same events one byte at a time", () => {
    expect(parseChunks(Array.from(BYTES, (b) => Uint8Array.of(b)))).toEqual(EXPECTED);
  });

  it("gives the same events split into three random pieces, many times", () => {
    const rand = mulberry32(1234);
    for (let n = 0; n < 2000; n++) {
      const [a, b] = [Math.floor(rand() * (BYTES.length + 1)), Math.floor(rand() * (BYTES.length + 1))].sort((x, y) => x - y);
      const chunks = [BYTES.slice(0, a), BYTES.slice(a, b), BYTES.slice(b)];
      expect(parseChunks(chunks), `pieces at ${a}, ${b}`).toEqual(EXPECTED);
    }
  });

  it("does not invent an empty line when CR and LF arrive in different reads", () => {
    const p = new SSEParser();
    const enc = new TextEncoder();
    expect(p.push(enc.encode("event: a\r\ndata: 1\r"))).toEqual([]);
    // The LF completes the CRLF of "data: 1": still no blank line, so no event yet.
    expect(p.push(enc.encode("\n"))).toEqual([]);
    expect(p.push(enc.encode("\r\n"))).toEqual([{ event: "a", data: "1" }]);
  });
});

describe("readSSE", () => {
  it("reads events from a ReadableStream in uneven chunks", async () => {
    const sizes = [1, 3, 7, 2, 50, 5];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        let pos = 0;
        for (let i = 0; pos < BYTES.length; i++) {
          const n = sizes[i % sizes.length];
          controller.enqueue(BYTES.slice(pos, pos + n));
          pos += n;
        }
        controller.close();
      },
    });
    const got: SSEEvent[] = [];
    for await (const ev of readSSE(body)) got.push(ev);
    expect(got).toEqual(EXPECTED);
  });
});
