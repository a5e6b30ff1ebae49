"""sse-starlette on uvicorn, a peer of ssehub in bench/peers.sh
(docs/benchmarks.md, "Peers in the same harness"). The same two routes as
`ssehub serve`, written as sse-starlette's README writes a stream:

  GET  /events?topic=T         an EventSourceResponse fed by a queue of its own
  POST /publish {topic, data}  data put on the queue of every stream of T

Run: uvicorn app:app --host 127.0.0.1 --port PORT (bench/peers.sh adds
--no-access-log, --backlog 4096, uvloop and httptools: uvicorn[standard]).

A stream's queue is registered before the response starts, so that a client
that has the response headers is subscribed (as ssehub guarantees); the
generator's `finally` removes it. The queue is unbounded: a slow client costs
memory, never a lost event. sse-starlette's defaults otherwise (a ping comment
every 15 s, CRLF line ends). No history: a reconnecting client misses what was
published meanwhile.
"""

import asyncio
import json
from collections import defaultdict

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

# topic -> the queues of its streams
streams = defaultdict(set)


async def events(request):
    topic = request.query_params.get("topic")
    if not topic:
        return JSONResponse({"error": "missing_topic", "message": "topic is required"}, 400)
    queue = asyncio.Queue()
    streams[topic].add(queue)

    async def feed():
        try:
            while True:
                yield {"data": await queue.get()}
        finally:
            streams[topic].discard(queue)

    return EventSourceResponse(feed())


async def publish(request):
    try:
        body = json.loads(await request.body())
        topic, data = body["topic"], body["data"]
    except (ValueError, KeyError, TypeError):
        return JSONResponse({"error": "bad_publish", "message": "JSON {topic, data} required"}, 400)
    queues = streams.get(topic, ())
    for queue in queues:
        queue.put_nowait(data)
    return JSONResponse({"subscribers": len(queues)})


app = Starlette(routes=[Route("/events", events), Route("/publish", publish, methods=["POST"])])
