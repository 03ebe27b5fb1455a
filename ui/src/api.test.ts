import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError, generate, type GenerateEvent, type GenerateRequest } from "./api";
import { applyEvent, failRun, startRun, summarize } from "./run";

const METRICS = { entropy: 0.5, varentropy: 1, attn_entropy: 2, attn_varentropy: 0.1, attn_head_varentropy: 1, agreement: 0.01, interaction_strength: 3 };
const PARAMS = { temperature: 0.6, top_p: 0.9, top_k: 27, min_p: 0.03 };
const token = (index: number, text: string, extra: object = {}) => ({
  index, id: 100 + index, text, outcome: "adaptive", inserted: false, logprob: -0.5, params: PARAMS, metrics: METRICS, top: [], ...extra,
});
const BRANCH = { score_kind: "entropy", winner: 0, candidates: [{ tokens: [1], text: "a", score: 0.2 }, { tokens: [2], text: "b", score: 0.9 }] };
const STATS = {
  prompt_tokens: 5, generation_tokens: 2, prompt_tps: 10, generation_tps: 8, time_to_first_token_s: 0.5,
  total_time_s: 0.8, peak_memory_gb: 0.2, finish_reason: "length", outcome_counts: { adaptive: 2 }, mean_entropy: 0.5,
};
const REQ: GenerateRequest = {
  messages: [{ role: "user", content: "hi" }], method: "entropix", preset: "entropix", config: {},
  normal: { temperature: 0.6, top_p: 0.9, min_p: 0.03, top_k: 0 }, seed: 0, max_tokens: 2,
};

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** A real Response whose body arrives in small uneven pieces, as from a network. */
function streamed(text: string, status = 200): Response {
  const bytes = new TextEncoder().encode(text);
  return new Response(
    new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < bytes.length; i += 5) c.enqueue(bytes.slice(i, i + 5));
        c.close();
      },
    }),
    { status, headers: { "Content-Type": status === 200 ? "text/event-stream" : "application/json" } },
  );
}

async function collect(res: Response | Error): Promise<{ events: GenerateEvent[]; error?: Error }> {
  vi.stubGlobal("fetch", vi.fn(async () => {
    if (res instanceof Error) throw res;
    return res;
  }));
  const events: GenerateEvent[] = [];
  try {
    await generate(REQ, (e) => events.push(e), new AbortController().signal);
    return { events };
  } catch (error) {
    return { events, error: error as Error };
  }
}

afterEach(() => vi.unstubAllGlobals());

describe("generate", () => {
  it("delivers start, tokens, branch and done, and builds the run from them", async () => {
    const body =
      sse("start", { model: { name: "m" }, prompt: { messages: REQ.messages }, sampler: { method: "entropix" } }) +
      sse("token", token(0, "Hé")) +
      sse("token", token(1, "llo", { outcome: "branch", branch: BRANCH })) +
      sse("branch", { index: 1, branch: BRANCH }) +
      sse("done", { text: "Héllo", stats: STATS });
    const { events, error } = await collect(streamed(body));
    expect(error).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(["start", "token", "token", "branch", "done"]);
    let run = startRun({}, 1000);
    for (const e of events) run = applyEvent(run, e, 2000);
    expect(run.status).toBe("done");
    expect(run.trace.text).toBe("Héllo");
    expect(run.trace.tokens[1].branch?.candidates).toHaveLength(2);
    expect(summarize(run, 3000)).toMatchObject({ tokens: 2, tokensPerSecond: 8, finishReason: "length" });
  });

  it("reads the body to its end after `done` instead of abandoning it (an abandoned body is a browser abort)", async () => {
    let cancelled = false;
    let closed = false;
    const bytes = new TextEncoder().encode(sse("token", token(0, "a")) + sse("done", { text: "a", stats: STATS }));
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (closed) return;
        c.enqueue(bytes);
        c.close();
        closed = true;
      },
      cancel() {
        cancelled = true;
      },
    });
    const reader = body.getReader();
    let readToEnd = false;
    const tracked = new ReadableStream<Uint8Array>({
      async pull(c) {
        const r = await reader.read();
        if (r.done) {
          readToEnd = true;
          c.close();
        } else c.enqueue(r.value);
      },
      cancel: () => reader.cancel(),
    }, { highWaterMark: 0 });
    const { events, error } = await collect(new Response(tracked, { headers: { "Content-Type": "text/event-stream" } }));
    expect(error).toBeUndefined();
    expect(events.map((e) => e.type)).toEqual(["token", "done"]);
    expect(readToEnd).toBe(true);
    expect(cancelled).toBe(false);
  });

  it("turns an `error` event into an ApiError with the server's message", async () => {
    const { events, error } = await collect(streamed(sse("token", token(0, "a")) + sse("error", { message: "out of memory" })));
    expect(events).toHaveLength(1);
    expect(error).toBeInstanceOf(ApiError);
    expect(error?.message).toMatch(/generation failed: out of memory/);
  });

  it("reports the message of a 4xx JSON error", async () => {
    const body = JSON.stringify({ error: { message: "unknown sampler field 'lo_ent'", type: "invalid_request_error", param: "config", code: null } });
    const { error } = await collect(streamed(body, 400));
    expect(error?.message).toBe("400: unknown sampler field 'lo_ent' (config)");
  });

  it("tells when to retry a busy server", async () => {
    const body = JSON.stringify({ error: { message: "the queue is full", type: "server_busy", param: null, code: "server_busy" } });
    const res = new Response(body, { status: 503, headers: { "Retry-After": "5" } });
    const { error } = await collect(res);
    expect(error?.message).toBe("503: the queue is full; retry in 5 s");
  });

  it("says the server is unreachable when fetch fails", async () => {
    const { error } = await collect(new TypeError("Failed to fetch"));
    expect(error?.message).toMatch(/server unreachable/);
  });

  it("does not hang or succeed silently when the stream ends without done", async () => {
    const { error } = await collect(streamed(sse("token", token(0, "a"))));
    expect(error?.message).toMatch(/ended before its `done` event/);
  });

  it("says the stream ended early when the server dies mid-stream, not just \"network error\"", async () => {
    const first = new TextEncoder().encode(sse("start", { model: {}, prompt: {}, sampler: {} }) + sse("token", token(0, "a")));
    let sent = false;
    const dying = new Response(
      new ReadableStream<Uint8Array>({
        pull(c) {
          if (!sent) {
            sent = true;
            c.enqueue(first);
          } else c.error(new TypeError("network error"));
        },
      }),
      { status: 200, headers: { "Content-Type": "text/event-stream" } },
    );
    const { events, error } = await collect(dying);
    expect(events.map((e) => e.type)).toEqual(["start", "token"]);
    expect(error).toBeInstanceOf(ApiError);
    expect(error?.message).toBe("the stream ended before its `done` event (server stopped or connection lost: network error)");
  });

  it("rejects a malformed token event with the field that is wrong", async () => {
    const { error } = await collect(streamed(sse("token", { ...token(0, "a"), metrics: { entropy: 1 } })));
    expect(error?.message).toMatch(/malformed "token" event: token\.metrics\.varentropy/);
  });

  it("marks an aborted run cancelled, not failed", () => {
    const run = failRun(startRun({}, 0), new DOMException("aborted", "AbortError"));
    expect(run.status).toBe("cancelled");
    expect(run.error).toBeUndefined();
  });
});
