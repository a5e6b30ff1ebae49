// better-sse on Node's http, a peer of ssehub in bench/peers.sh
// (docs/benchmarks.md, "Peers in the same harness"). The same two routes as
// `ssehub serve`, written as better-sse's README writes them:
//
//   GET  /events?topic=T        a session registered with the channel T
//   POST /publish {topic, data} channel T broadcasts data as a "message"
//
// Usage: node server.js --listen 127.0.0.1:PORT
// Prints "listening on ADDR" once bound (bench/lib.sh waits for it).
//
// The serializer is the identity: better-sse JSON-encodes data by default,
// and the load generator's data is already a string. Everything else is
// better-sse's default (keep-alive comment every 10 s, retry 2000, a UUID
// event id per broadcast). No history: a reconnecting client misses what was
// published meanwhile (the load generator counts it as gaps).
"use strict";

const http = require("node:http");
const { createSession, createChannel } = require("better-sse");

const args = process.argv.slice(2);
const listen = args[args.indexOf("--listen") + 1] || "127.0.0.1:8080";
const [host, port] = [listen.slice(0, listen.lastIndexOf(":")), Number(listen.slice(listen.lastIndexOf(":") + 1))];

const channels = new Map();
function channel(topic) {
  let c = channels.get(topic);
  if (!c) {
    c = createChannel();
    channels.set(topic, c);
  }
  return c;
}

function json(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

const identity = (data) => String(data);

const server = http.createServer({ noDelay: true }, async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (req.method === "GET" && url.pathname === "/events") {
    const topic = url.searchParams.get("topic");
    if (!topic) return json(res, 400, { error: "missing_topic", message: "topic is required" });
    const session = await createSession(req, res, { serializer: identity });
    channel(topic).register(session);
    return;
  }
  if (req.method === "POST" && url.pathname === "/publish") {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return json(res, 400, { error: "bad_json", message: "body is not JSON" });
    }
    if (typeof body.topic !== "string" || typeof body.data !== "string") {
      return json(res, 400, { error: "bad_publish", message: "topic and data (strings) are required" });
    }
    const c = channels.get(body.topic);
    if (c) c.broadcast(body.data, "message");
    return json(res, 200, { subscribers: c ? c.sessionCount : 0 });
  }
  json(res, 404, { error: "not_found", message: "no such route" });
});

server.listen({ host, port, backlog: 4096 }, () => {
  const a = server.address();
  console.log(`listening on ${a.address}:${a.port}`);
});
