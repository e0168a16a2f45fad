"""An upload limit for ASGI apps, enforced while the body streams in, answered in JSON.

A body whose Content-Length is over the limit is refused before a byte of it is read; a body
without one (chunked) is counted as it arrives and refused the moment it passes the limit, so a
client can never make the server hold more than the limit. (Starlette's own limiter answers a
declared-too-large body in plain text, whatever the app's error handlers say; clients of this API
always get JSON.)
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class UploadLimit:
    """ASGI middleware: 413 with {"detail": reason} for request bodies over `max_bytes`.

    Add it with `app.add_middleware(UploadLimit, max_bytes=..., reason=...)`: it runs outside the
    app's exception handlers, so the 413 raised while the route reads the body reaches them.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, reason: str):
        self.app, self.max_bytes, self.reason = app, max_bytes, reason

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self.refuse(send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self.reason)
            return message

        await self.app(scope, counting_receive, send)

    async def refuse(self, send: Send) -> None:
        body = json.dumps({"detail": self.reason}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
