"""Real HTTP servers on loopback that speak ComfyUI's and OpenAI's image APIs.

The HTTP backends are tested against these instead of patched functions: each
server listens on 127.0.0.1 at a free port, answers from a thread with real
PNGs, keeps every request it received (so a test can check what was sent, and
how often), and can be told to fail the next calls to a route in the ways
vendors fail::

    with FakeOpenAI(api_key="sk-test") as openai:
        openai.fail("generations", "rate_limited", "server_error")  # then it works
        ...
        assert len(openai.calls("generations")) == 3

Failure modes (not every server knows every one): ``unauthorized`` (401),
``rate_limited`` (429 with ``Retry-After``), ``quota`` (429
``insufficient_quota``), ``server_error`` (500), ``garbage`` (200 with a body that
is not JSON), ``wrong_shape`` (200 JSON of the wrong shape), ``truncated`` (an
image cut short), ``url`` (image URLs instead of base64), ``echo_key`` (a 400
whose message repeats the API key), ``hang`` (no answer until the test ends),
and for ComfyUI ``never_finishes`` and ``execution_error`` (on ``prompt``) and
``forget`` (an upload acknowledged but not kept).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

HANG_SECONDS = 10.0
"""Longest a ``hang`` holds its answer back; stopping the server ends it at once."""


def assert_distinct_pngs(outputs: Any, size: tuple[int, int]) -> None:
    """Each output is a ``size`` PNG made from no input, and no two are the same picture."""
    pixels = []
    for output in outputs:
        assert output.media_type == "image/png" and output.parents == ()
        with Image.open(output.path) as image:
            assert image.size == size
            pixels.append(np.asarray(image))
    for i, first in enumerate(pixels):
        assert not any(np.array_equal(first, other) for other in pixels[i + 1 :])


def png(width: int, height: int, seed: str) -> bytes:
    """A real PNG: a gradient whose colours follow ``seed``, so variants differ."""
    digest = hashlib.sha256(seed.encode()).digest()
    y, x = np.mgrid[0:height, 0:width]
    channels = [
        (x * digest[i] // max(width, 1) + y * digest[i + 3] // max(height, 1) + digest[i + 6]) % 256
        for i in range(3)
    ]
    pixels = np.stack(channels, axis=2).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Upload:
    """One file of a multipart form."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Received:
    """One request as the server saw it."""

    route: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def form(self) -> dict[str, list[str | Upload]]:
        """The body parsed as ``multipart/form-data``: fields and files by name."""
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + self.body)
        fields: dict[str, list[str | Upload]] = {}
        for part in message.iter_parts():
            assert isinstance(part, Message)
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(name, str) and isinstance(payload, bytes)
            filename = part.get_filename()
            value: str | Upload = (
                Upload(filename, part.get_content_type(), payload)
                if filename is not None
                else payload.decode()
            )
            fields.setdefault(name, []).append(value)
        return fields


@dataclass
class Answer:
    """What the server sends back."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False

    @classmethod
    def of(cls, payload: Any, status: int = 200, **headers: str) -> Answer:
        """A JSON answer."""
        return cls(status=status, body=json.dumps(payload).encode(), headers=dict(headers))


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 with a script of failures per route."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._release = threading.Event()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner._serve(self)

            def do_POST(self) -> None:
                owner._serve(self)

            def log_message(self, format: str, *args: Any) -> None:  # quiet tests
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """The server's base URL."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()  # let any hanging answer go
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def fail(self, route: str, *modes: str) -> None:
        """The next calls to ``route`` fail in these ways, one each, in order."""
        with self._lock:
            self._script.setdefault(route, deque()).extend(modes)

    def calls(self, route: str) -> list[Received]:
        """The requests received on ``route``, oldest first."""
        with self._lock:
            return [r for r in self.received if r.route == route]

    def seen(self, text: str) -> bool:
        """Whether ``text`` appeared anywhere in any request (headers included)."""
        needle = text.encode()
        with self._lock:
            return any(
                needle in r.body or any(text in v for v in r.headers.values())
                for r in self.received
            )

    # For subclasses.

    def route(self, method: str, path: str) -> str:
        """The route name a request is filed under."""
        raise NotImplementedError

    def answer(self, request: Received, mode: str) -> Answer:
        """The answer to ``request`` when this call is to fail as ``mode`` (or "ok")."""
        raise NotImplementedError

    # Serving.

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Received(
            route=self.route(handler.command, parts.path),
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in handler.headers.items()},
            body=body,
        )
        with self._lock:
            self.received.append(request)
            script = self._script.get(request.route)
            mode = script.popleft() if script else "ok"
        if mode == "hang":
            self._release.wait(HANG_SECONDS)
            return
        answer = self.answer(request, mode)
        if answer.hang:
            self._release.wait(HANG_SECONDS)
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        handler.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(answer.body)


def _common(mode: str) -> Answer | None:
    """The failures every fake answers the same way."""
    if mode == "server_error":
        return Answer(500, b"500 Internal Server Error", "text/plain")
    if mode == "garbage":
        return Answer(200, b"<html><body>Bad gateway, try later</body></html>", "text/html")
    return None


# OpenAI.


class FakeOpenAI(LoopbackServer):
    """``/v1/images/generations`` and ``/v1/images/edits``, answering in ``b64_json``.

    ``usage`` is returned as the response's ``usage`` when set; ``retry_after``
    is the ``Retry-After`` a ``rate_limited`` answer carries (seconds, as text)
    and ``retry_after_ms`` the ``retry-after-ms`` it carries, if any.
    """

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key
        self.usage: dict[str, Any] | None = None
        self.retry_after = "0"
        self.retry_after_ms: str | None = None

    @property
    def base_url(self) -> str:
        """What ``GREENLIGHT_OPENAI_BASE_URL`` is set to."""
        return f"{self.url}/v1"

    def route(self, method: str, path: str) -> str:
        return path.rsplit("/", 1)[-1]

    def answer(self, request: Received, mode: str) -> Answer:
        common = _common(mode)
        if common is not None:
            return common
        if mode == "unauthorized" or request.headers.get("authorization") != (
            f"Bearer {self.api_key}"
        ):
            shown = request.headers.get("authorization", "")[7:]
            return _openai_error(
                401,
                f"Incorrect API key provided: {shown[:6]}***{shown[-4:]}. You can find "
                "your API key at https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                "invalid_api_key",
            )
        if mode == "rate_limited":
            answer = _openai_error(
                429,
                "Rate limit reached for images per minute. Please try again later.",
                "requests",
                "rate_limit_exceeded",
            )
            answer.headers["Retry-After"] = self.retry_after
            if self.retry_after_ms is not None:
                answer.headers["retry-after-ms"] = self.retry_after_ms
            return answer
        if mode == "quota":
            return _openai_error(
                429,
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                "insufficient_quota",
            )
        if mode == "echo_key":
            return _openai_error(
                400, f"Invalid size for key {self.api_key}", "invalid_request_error", None
            )
        if mode == "wrong_shape":
            return Answer.of({"created": 1, "data": "no images today"})
        fields, images = self._request_fields(request)
        count = int(fields.get("n", 1))
        if images:
            with Image.open(io.BytesIO(images[0].data)) as first:
                width, height = first.size
        else:
            size = str(fields.get("size", "64x64"))
            width, height = (64, 64) if size == "auto" else map(int, size.split("x"))
        data = []
        for k in range(count):
            image = png(width, height, f"{fields.get('prompt')}/{k}")
            if mode == "truncated":
                image = image[: len(image) // 2]
            item: dict[str, Any] = {"b64_json": base64.b64encode(image).decode()}
            if mode == "url":
                item = {"url": f"{self.url}/files/img-{k}.png"}
            item["revised_prompt"] = fields.get("prompt")
            data.append(item)
        body: dict[str, Any] = {"created": int(time.time()), "data": data}
        if self.usage is not None:
            body["usage"] = self.usage
        return Answer.of(body)

    @staticmethod
    def _request_fields(request: Received) -> tuple[dict[str, Any], list[Upload]]:
        if request.route == "generations":
            return request.json(), []
        form = request.form()
        fields = {k: v[0] for k, v in form.items() if isinstance(v[0], str)}
        images = [u for k in ("image", "image[]") for u in form.get(k, []) if isinstance(u, Upload)]
        return fields, images


def _openai_error(status: int, message: str, kind: str, code: str | None) -> Answer:
    return Answer.of(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status
    )


# ComfyUI.

_COMFY_NODES = frozenset(
    {
        "CheckpointLoaderSimple",
        "CLIPTextEncode",
        "EmptyLatentImage",
        "KSampler",
        "VAEDecode",
        "VAEEncode",
        "LoadImage",
        "SaveImage",
        "PreviewImage",
    }
)


@dataclass
class _Queued:
    prompt_id: str
    number: int
    graph: dict[str, Any]
    client_id: str
    mode: str
    polls_left: int


class FakeComfyUI(LoopbackServer):
    """ComfyUI's server: ``/upload/image``, ``/prompt``, ``/history/{id}``, ``/view``,
    ``/queue`` and ``/interrupt``.

    A prompt finishes after ``polls`` history polls; each ``SaveImage`` node then
    holds ``batch_size`` images (from ``EmptyLatentImage``) the size of the latent
    or of the loaded image, coloured by the sampler's seed and the prompt text.
    ``api_key``, when set, is required as a bearer token (a proxy in front).
    """

    def __init__(self, *, polls: int = 1, api_key: str | None = None) -> None:
        super().__init__()
        self.polls = polls
        self.api_key = api_key
        self.inputs: dict[str, bytes] = {}  # "subfolder/name" -> bytes, ComfyUI's input dir
        self.files: dict[tuple[str, str, str], bytes] = {}  # (type, subfolder, name)
        self.prompts: dict[str, _Queued] = {}
        self._counter = 0

    def route(self, method: str, path: str) -> str:
        if path.startswith("/history/"):
            return "history"
        return path.strip("/").replace("/", "_") or "root"  # upload_image, prompt, view...

    def answer(self, request: Received, mode: str) -> Answer:
        common = _common(mode)
        if common is not None:
            return common
        if mode == "unauthorized" or (
            self.api_key is not None
            and request.headers.get("authorization") != f"Bearer {self.api_key}"
        ):
            return Answer(401, b"401: Unauthorized", "text/plain")
        if request.route == "upload_image":
            return self._upload(request, mode)
        if request.route == "prompt":
            return self._prompt(request, mode)
        if request.route == "history":
            return self._history(request.path.rsplit("/", 1)[-1], mode)
        if request.route == "view":
            return self._view(request, mode)
        if request.route == "queue":
            return Answer.of(self._queue()) if request.method == "GET" else Answer()
        if request.route == "interrupt":
            return Answer()
        return Answer(404, b"404: Not Found", "text/plain")

    def _upload(self, request: Received, mode: str) -> Answer:
        form = request.form()
        image = form.get("image", [None])[0]
        if not isinstance(image, Upload) or not image.filename:
            return Answer(400)
        subfolder = str(form.get("subfolder", [""])[0])
        overwrite = form.get("overwrite", [""])[0] in ("true", "1")
        name, stem, n = image.filename, image.filename.rsplit(".", 1), 1
        while not overwrite and self._key(subfolder, name) in self.inputs:
            if self.inputs[self._key(subfolder, name)] == image.data:
                break
            name, n = f"{stem[0]} ({n}).{stem[1]}", n + 1
        if mode != "forget":  # "forget": says it kept the file, and did not
            self.inputs[self._key(subfolder, name)] = image.data
        return Answer.of({"name": name, "subfolder": subfolder, "type": "input"})

    @staticmethod
    def _key(subfolder: str, name: str) -> str:
        return f"{subfolder}/{name}" if subfolder else name

    def _prompt(self, request: Received, mode: str) -> Answer:
        body = request.json()
        graph = body.get("prompt") if isinstance(body, dict) else None
        if not isinstance(graph, dict):
            return Answer.of({"error": "no prompt", "node_errors": []}, 400)
        for node_id, node in graph.items():
            if node.get("class_type") not in _COMFY_NODES:
                return Answer.of(
                    {
                        "error": {
                            "type": "invalid_prompt",
                            "message": f"Cannot execute because node {node.get('class_type')} "
                            "does not exist.",
                            "details": f"Node ID '#{node_id}'",
                            "extra_info": {},
                        },
                        "node_errors": {},
                    },
                    400,
                )
        outputs = [i for i, n in graph.items() if n["class_type"] in ("SaveImage", "PreviewImage")]
        if not outputs:
            return Answer.of(
                {
                    "error": {
                        "type": "prompt_no_outputs",
                        "message": "Prompt has no outputs",
                        "details": "",
                        "extra_info": {},
                    },
                    "node_errors": [],
                },
                400,
            )
        for node_id, node in graph.items():
            image = node["inputs"].get("image")
            if node["class_type"] == "LoadImage" and image not in self.inputs:
                return Answer.of(
                    {
                        "error": {
                            "type": "prompt_outputs_failed_validation",
                            "message": "Prompt outputs failed validation",
                            "details": "",
                            "extra_info": {},
                        },
                        "node_errors": {
                            node_id: {
                                "errors": [
                                    {
                                        "type": "custom_validation_failed",
                                        "message": "Custom validation failed for node",
                                        "details": f"image - Invalid image file: {image}",
                                        "extra_info": {},
                                    }
                                ],
                                "dependent_outputs": outputs,
                                "class_type": "LoadImage",
                            }
                        },
                    },
                    400,
                )
        self._counter += 1
        queued = _Queued(
            prompt_id=str(uuid.uuid4()),
            number=self._counter,
            graph=graph,
            client_id=str(body.get("client_id", "")),
            mode=mode,
            polls_left=self.polls,
        )
        self.prompts[queued.prompt_id] = queued
        return Answer.of(
            {"prompt_id": queued.prompt_id, "number": queued.number, "node_errors": {}}
        )

    def _history(self, prompt_id: str, mode: str) -> Answer:
        if mode == "wrong_shape":
            return Answer.of({prompt_id: {"outputs": "soon", "status": None}})
        queued = self.prompts.get(prompt_id)
        if queued is None:
            return Answer.of({})
        if queued.mode == "never_finishes" or queued.polls_left > 0:
            queued.polls_left -= 1
            return Answer.of({})
        start = 1_700_000_000_000 + queued.number * 10_000
        messages: list[Any] = [
            ["execution_start", {"prompt_id": prompt_id, "timestamp": start}],
            ["execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": start + 2}],
        ]
        outputs: dict[str, Any] = {}
        if queued.mode == "execution_error":
            sampler = next(i for i, n in queued.graph.items() if n["class_type"] == "KSampler")
            messages.append(
                [
                    "execution_error",
                    {
                        "prompt_id": prompt_id,
                        "node_id": sampler,
                        "node_type": "KSampler",
                        "executed": [],
                        "exception_message": "Allocation on device 0 would exceed allowed memory.",
                        "exception_type": "torch.OutOfMemoryError",
                        "traceback": ["Traceback (most recent call last):\n"],
                        "current_inputs": {},
                        "current_outputs": {},
                        "timestamp": start + 1500,
                    },
                ]
            )
            status = {"status_str": "error", "completed": False, "messages": messages}
        else:
            outputs = self._render(queued)
            messages.append(
                ["execution_success", {"prompt_id": prompt_id, "timestamp": start + 1234}]
            )
            status = {"status_str": "success", "completed": True, "messages": messages}
        entry = {
            "prompt": [
                queued.number,
                prompt_id,
                queued.graph,
                {"client_id": queued.client_id},
                list(outputs),
            ],
            "outputs": outputs,
            "status": status,
            "meta": {
                node: {
                    "node_id": node,
                    "display_node": node,
                    "parent_node": None,
                    "real_node_id": node,
                }
                for node in outputs
            },
        }
        return Answer.of({prompt_id: entry})

    def _render(self, queued: _Queued) -> dict[str, Any]:
        graph = queued.graph
        width, height, batch = 64, 64, 1
        for node in graph.values():
            if node["class_type"] == "EmptyLatentImage":
                width, height = node["inputs"]["width"], node["inputs"]["height"]
                batch = node["inputs"].get("batch_size", 1)
            if node["class_type"] == "LoadImage":
                with Image.open(io.BytesIO(self.inputs[node["inputs"]["image"]])) as loaded:
                    width, height = loaded.size
        seed = next((n["inputs"].get("seed") for n in graph.values() if "seed" in n["inputs"]), 0)
        text = "/".join(str(n["inputs"].get("text", "")) for n in graph.values())
        outputs: dict[str, Any] = {}
        for node_id, node in graph.items():
            if node["class_type"] not in ("SaveImage", "PreviewImage"):
                continue
            kind = "output" if node["class_type"] == "SaveImage" else "temp"
            prefix = node["inputs"].get("filename_prefix", "ComfyUI")
            images = []
            for k in range(batch):
                self._counter += 1
                name = f"{prefix}_{self._counter:05}_.png"
                self.files[(kind, "", name)] = png(width, height, f"{seed}/{text}/{node_id}/{k}")
                images.append({"filename": name, "subfolder": "", "type": kind})
            outputs[node_id] = {"images": images}
        return outputs

    def _view(self, request: Received, mode: str) -> Answer:
        query = {k: v[0] for k, v in request.query.items()}
        key = (query.get("type", "output"), query.get("subfolder", ""), query.get("filename", ""))
        data = self.files.get(key)
        if data is None:
            return Answer(404, b"404: Not Found", "text/plain")
        if mode == "truncated":
            data = data[: len(data) // 2]
        return Answer(200, data, "image/png")

    def _queue(self) -> dict[str, Any]:
        running = [
            [q.number, q.prompt_id, q.graph, {"client_id": q.client_id}, []]
            for q in self.prompts.values()
            if q.polls_left > 0 or q.mode == "never_finishes"
        ]
        return {"queue_running": running[:1], "queue_pending": running[1:]}
