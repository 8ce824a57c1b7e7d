"""Drive the tutorial's review app: an admin and a worker, one scan, one task, one decision.

python try_it.py http://127.0.0.1:8000 let-me-in-0123456789
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import Any

import aiohttp
import socketio


async def post(http: aiohttp.ClientSession, path: str, body: Any, token: str = "") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(path, json=body, headers=headers) as response:
        answer = await response.json()
        if response.status >= 400:
            raise RuntimeError(f"{path}: {answer['error']}")
        return answer


async def main(url: str, invite_code: str) -> None:
    suffix = uuid.uuid4().hex[:6]  # new names on every run
    async with aiohttp.ClientSession(url) as http:
        ada = {"username": f"ada-{suffix}", "password": "correct horse", "role": "admin"}
        admin = await post(http, "/api/auth/register", {**ada, "invite_code": invite_code})
        wren = {"username": f"wren-{suffix}", "password": "battery staple"}  # a worker
        worker = await post(http, "/api/auth/register", wren)
        scan = (await post(http, "/api/scans", {"name": "Night shift"}, admin["token"]))["scan"]

    decided = asyncio.Event()
    admin_socket, worker_socket = socketio.AsyncClient(), socketio.AsyncClient()

    async def review(event: dict[str, Any]) -> None:
        task = event["task"]
        print(f"admin sees #{event['seq']}: {task['worker_username']}: {task['content']}")
        ack = await admin_socket.call(
            "task:decide", {"task_id": task["id"], "decision": "validated"}
        )
        assert ack["ok"], ack

    async def decision(event: dict[str, Any]) -> None:
        print(f"worker sees #{event['seq']}: {event['task']['status']}")
        decided.set()

    admin_socket.on("task:created", review)  # the admin validates every new task
    worker_socket.on("task:updated", decision)

    for sock, who in ((admin_socket, admin), (worker_socket, worker)):
        await sock.connect(url, auth={"token": who["token"]}, transports=["websocket"])
        joined = await sock.call("scan:join", {"scan_id": scan["id"]})
        assert joined["ok"], joined
    ack = await worker_socket.call("task:submit", {"scan_id": scan["id"], "content": "Door open"})
    print(f"worker submitted: {ack['task']['status']}")
    await asyncio.wait_for(decided.wait(), timeout=10)
    await admin_socket.disconnect()
    await worker_socket.disconnect()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
