// The origin behind Pushpin in bench/peers.sh (docs/benchmarks.md, "Peers in
// the same harness"): it answers every GET /events?topic=T with a GRIP
// stream hold on channel T, so that Pushpin keeps the client's stream open
// and subscribed; publishes go to Pushpin's own publish API, never here.
// No dependencies: Node's http only.
//
// Usage: node pushpin-origin.js --listen 127.0.0.1:PORT
"use strict";

const http = require("node:http");

const args = process.argv.slice(2);
const listen = args[args.indexOf("--listen") + 1] || "127.0.0.1:8081";
const [host, port] = [listen.slice(0, listen.lastIndexOf(":")), Number(listen.slice(listen.lastIndexOf(":") + 1))];

const server = http.createServer({ noDelay: true }, (req, res) => {
  const url = new URL(req.url, "http://localhost");
  const topic = url.searchParams.get("topic");
  if (req.method !== "GET" || url.pathname !== "/events" || !topic) {
    res.writeHead(404, { "content-type": "text/plain" });
    return res.end("not found\n");
  }
  // The headers go to the client; the Grip-* ones tell Pushpin to hold.
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    "grip-hold": "stream",
    "grip-channel": topic,
  });
  res.end();
});

server.listen({ host, port, backlog: 4096 }, () => {
  const a = server.address();
  console.log(`listening on ${a.address}:${a.port}`);
});
