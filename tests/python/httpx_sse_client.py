"""Reads an ssehub stream with httpx-sse, as a Python backend would.

Usage: httpx_sse_client.py URL COUNT [LAST_EVENT_ID]

Prints {"open": true} once the response headers are in (the hub has
subscribed the stream by then), then one JSON line per event httpx-sse
yields: {"event", "data", "id", "retry"}; exits after COUNT events. Every
event it yields is printed, so an event nobody published (an empty one made
of a lone `retry:` block, or of a keep-alive's blank line) shows up.
"""

import json
import sys

import httpx
from httpx_sse import connect_sse


def main() -> None:
    url, count = sys.argv[1], int(sys.argv[2])
    headers = {}
    if len(sys.argv) > 3:
        headers["Last-Event-ID"] = sys.argv[3]
    with httpx.Client(timeout=httpx.Timeout(30.0)) as client:
        with connect_sse(client, "GET", url, headers=headers) as source:
            source.response.raise_for_status()
            print(json.dumps({"open": True}), flush=True)
            seen = 0
            for sse in source.iter_sse():
                line = {"event": sse.event, "data": sse.data, "id": sse.id, "retry": sse.retry}
                print(json.dumps(line), flush=True)
                seen += 1
                if seen == count:
                    return


if __name__ == "__main__":
    main()
