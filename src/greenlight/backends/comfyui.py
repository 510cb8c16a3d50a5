"""Work done by the studio's own ComfyUI: a vetted workflow, run through its HTTP API.

A request names a **workflow** the studio keeps in its workflows folder
(``GREENLIGHT_COMFYUI_WORKFLOWS_DIR``, default ``<data dir>/workflows/comfyui``)
rather than sending a graph of its own: the tool a policy vetted is then the
workflow that runs, byte for byte, and its SHA-256 goes into the record. Each
``<name>.json`` holds the API-format graph ComfyUI exports ("Save (API)") and
says where a request's words, seed, values and images go::

    {
      "description": "SDXL previs frame",
      "graph": {"3": {"class_type": "KSampler", "inputs": {...}}, ...},
      "bind": {"prompt": "6.text", "negative_prompt": "7.text",
               "seed": ["3.seed", "12.noise_seed"], "steps": "3.steps"},
      "inputs": {"plate": "10.image"},
      "outputs": ["9"]
    }

``bind`` maps a name to one or more ``"<node id>.<input>"``: ``prompt`` and
``negative_prompt`` take the parameters of those names, ``seed`` the run's seed,
any other name a key of the ``values`` parameter. ``inputs`` maps each input
part the workflow needs to its ``LoadImage`` nodes; the files are uploaded
(``POST /upload/image``) under a name of their own and the nodes pointed at
them. ``outputs`` (optional) limits which nodes' saved images are kept.

The run submits the graph (``POST /prompt``), polls ``GET /history/{id}``
every ``GREENLIGHT_COMFYUI_POLL_INTERVAL`` seconds until ComfyUI reports it
done or ``GREENLIGHT_COMFYUI_TIME_LIMIT`` passes (then takes it off ComfyUI's
queue), and fetches every saved image (``GET /view``). The usage records the
prompt id, the nodes, and ComfyUI's own account of the execution.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import secrets
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from greenlight.backends._http import (
    EXTENSIONS,
    Deadline,
    ReceivedImage,
    VendorService,
    checked_image,
    write_all,
)
from greenlight.backends.base import (
    BackendInput,
    BackendOutput,
    BackendResult,
    Capabilities,
    CheckedBackend,
    Parameter,
    Progress,
    Task,
    bad_parameter,
    check_parameters,
)
from greenlight.core.errors import GreenlightError, InvalidInput
from greenlight.core.settings import Settings

NAME = "comfyui"
UPLOAD_FOLDER = "greenlight"
"""The subfolder of ComfyUI's input folder our uploads go to."""

RESERVED = ("prompt", "negative_prompt", "seed")
"""Bound names filled from the request itself rather than from ``values``."""

MAX_SEED = 2**63 - 1  # the prompt log stores seeds as signed 64-bit integers
_WORKFLOW_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_TARGET = re.compile(r"^([^.\s]+)\.([A-Za-z_][A-Za-z0-9_]*)$")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")

Target = tuple[str, str]  # (node id, input name)


@dataclass(frozen=True)
class Workflow:
    """A vetted ComfyUI workflow and where a request's parts go in it."""

    name: str
    sha256: str
    description: str
    graph: Mapping[str, Any]
    bind: Mapping[str, tuple[Target, ...]]
    inputs: Mapping[str, tuple[Target, ...]]
    outputs: tuple[str, ...] | None


class ComfyUIBackend(CheckedBackend):
    """Runs the studio's vetted ComfyUI workflows over ComfyUI's HTTP API."""

    name = NAME

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else Settings.from_env()
        self.capabilities = Capabilities(
            tasks=("text_to_image", "image_to_image", "inpaint"),
            media_in={},  # each workflow names its own input parts; see ``workflows``
            media_out=_IMAGE_TYPES,
            parameters=(
                Parameter("workflow", "str", "the name of a vetted workflow", required=True),
                Parameter("prompt", "str", "the words for the workflow's prompt node"),
                Parameter("negative_prompt", "str", "what the image should not show"),
                Parameter("values", "json", 'other bound inputs, e.g. {"steps": 30}'),
            ),
            seeded=True,
            remote=True,
            extra={
                "input_media": list(_IMAGE_TYPES),
                "workflows": _available(self.settings.comfyui.workflows_dir),
            },
        )

    def check(
        self, inputs: Sequence[BackendInput], parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Refuse a request the named workflow cannot take; its normalized parameters.

        Reads the workflow file and nothing else: ComfyUI is only called by :meth:`run`.
        """
        effective = check_parameters(NAME, self.capabilities, parameters)
        workflow = self.workflow(effective["workflow"])
        for name in ("prompt", "negative_prompt"):
            if name in effective and name not in workflow.bind:
                raise bad_parameter(
                    NAME,
                    f"The workflow {workflow.name!r} has no node bound to '{name}'; leave it "
                    "out or bind it in the workflow file.",
                )
        effective["values"] = _values(workflow, effective.get("values", {}))
        _parts(workflow, inputs)
        return effective

    def workflow(self, name: str) -> Workflow:
        """The vetted workflow called ``name``, checked; ``unknown_workflow`` if none."""
        folder = self.settings.comfyui.workflows_dir
        path = folder / f"{name}.json" if folder is not None else None
        if not _WORKFLOW_NAME.match(name) or path is None or not path.is_file():
            known = _available(folder)
            raise InvalidInput(
                f"There is no ComfyUI workflow called {name!r}; choose one of "
                f"{', '.join(known) or 'none (the workflows folder is empty)'}, or ask the "
                f"pipeline team to add it to {folder}.",
                code=f"backend.{NAME}.unknown_workflow",
                workflow=name,
                known=known,
            )
        return _parse_workflow(name, path.read_bytes())

    def work(self, task: Task) -> BackendResult:
        """Upload the inputs, run the workflow on ComfyUI, write every saved image."""
        inputs, effective, out_dir, seed, progress = task
        workflow = self.workflow(effective["workflow"])
        config = self.settings.comfyui
        if not config.url:
            raise InvalidInput(
                "No ComfyUI address is set on this worker; set GREENLIGHT_COMFYUI_URL "
                "(e.g. http://comfy.studio.internal:8188) and run the request again.",
                code=f"backend.{NAME}.not_configured",
            )
        if "seed" in workflow.bind:
            seed = secrets.randbelow(2**32) if seed is None else seed
            if not 0 <= seed <= MAX_SEED:
                raise bad_parameter(NAME, f"The seed must be from 0 to {MAX_SEED}, not {seed}.")
        else:
            seed = None  # the workflow fixes its own randomness
        graph: dict[str, Any] = copy.deepcopy(dict(workflow.graph))
        for name in ("prompt", "negative_prompt"):
            if name in effective:
                _put(graph, workflow.bind[name], effective[name])
        if seed is not None:
            _put(graph, workflow.bind["seed"], seed)
        for name, value in effective["values"].items():
            _put(graph, workflow.bind[name], value)

        deadline = Deadline(NAME, config.time_limit, "GREENLIGHT_COMFYUI_TIME_LIMIT")
        client_id = uuid.uuid4().hex
        with VendorService(
            NAME,
            config.url,
            self.settings.http,
            deadline,
            api_key=config.api_key,
            key_setting="GREENLIGHT_COMFYUI_API_KEY",
            on_retry=lambda stage: progress(0.1, stage),
        ) as service:
            uploaded = _upload(service, workflow, inputs, graph, client_id, progress)
            progress(0.1, f"submitting workflow {workflow.name}")
            submitted = _submit(service, graph, client_id)
            prompt_id = submitted["prompt_id"]
            try:
                entry = _wait(service, prompt_id, config.poll_interval, progress)
            except GreenlightError as exc:
                if exc.code == f"backend.{NAME}.timed_out":
                    _withdraw(config.url, config.api_key, self.settings, prompt_id)
                raise
            execution = _execution(service, workflow, prompt_id, entry)
            saved = _saved(service, workflow, entry)
            fetched: list[tuple[str, str, ReceivedImage]] = []
            for number, (node, item) in enumerate(saved, start=1):
                progress(0.8 + 0.15 * number / len(saved), f"fetching image {number}")
                response = service.call(
                    "GET",
                    "view",
                    f"fetching image {number} of {len(saved)}",
                    params={k: item[k] for k in ("filename", "subfolder", "type")},
                )
                image = checked_image(service, response.content, f"image {item['filename']!r}")
                fetched.append((node, item["filename"], image))
            log = service.log.describe()

        named = [
            (f"{workflow.name}_{_safe(node)}_{k}{EXTENSIONS[image.media_type]}", image)
            for k, (node, _, image) in enumerate(fetched, start=1)
        ]
        paths = write_all(out_dir, [(name, image.data) for name, image in named])
        progress(1.0, f"{len(paths)} image(s) written")
        parents = tuple(range(len(inputs)))
        output_nodes: dict[str, list[str]] = {}
        for node, filename, _ in fetched:
            output_nodes.setdefault(node, []).append(filename)
        usage: dict[str, Any] = {
            "service": httpx.URL(config.url).host,
            "workflow": workflow.name,
            "workflow_sha256": workflow.sha256,
            "prompt_id": prompt_id,
            "client_id": client_id,
            "queue_number": submitted.get("number"),
            "bound_nodes": {
                name: [f"{node}.{field}" for node, field in targets]
                for name, targets in {**workflow.bind, **workflow.inputs}.items()
            },
            "uploads": uploaded,
            "output_nodes": output_nodes,
            "execution": execution,
            **log,
        }
        if submitted.get("node_errors"):
            usage["node_warnings"] = submitted["node_errors"]
        return BackendResult(
            outputs=tuple(
                BackendOutput(path=path, media_type=image.media_type, parents=parents)
                for path, (_, image) in zip(paths, named, strict=True)
            ),
            model=f"comfyui/{workflow.name}",
            model_version=f"sha256:{workflow.sha256[:16]}",
            parameters=effective,
            seed=seed,
            usage=usage,
            cost_usd=None,  # the studio's own GPUs: the tool's rate card prices them
            kind="edited" if inputs else "generated",
        )


# The workflow file.


def _available(folder: Path | None) -> list[str]:
    if folder is None or not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.json") if _WORKFLOW_NAME.match(p.stem))


def _parse_workflow(name: str, raw: bytes) -> Workflow:
    """The workflow file checked for shape: every binding names a real node input."""

    def broken(what: str) -> InvalidInput:
        return InvalidInput(
            f"The ComfyUI workflow file {name}.json is not usable: {what}. Ask the pipeline "
            "team to fix it (see the comfyui backend's documentation for the format).",
            code=f"backend.{NAME}.bad_workflow",
            workflow=name,
        )

    try:
        document = json.loads(raw)
    except ValueError:
        raise broken("it is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("graph"), dict):
        raise broken("it has no 'graph' (the API-format export) at the top level")
    graph = document["graph"]
    if not graph:
        raise broken("its graph has no nodes")
    for node_id, node in graph.items():
        if (
            not isinstance(node, dict)
            or not isinstance(node.get("class_type"), str)
            or not isinstance(node.get("inputs"), dict)
        ):
            raise broken(f"node {node_id!r} has no class_type and inputs (export it in API format)")

    def targets(label: str, value: Any) -> tuple[Target, ...]:
        found = value if isinstance(value, list) else [value]
        parsed = []
        for target in found:
            match = _TARGET.match(target) if isinstance(target, str) else None
            if match is None:
                raise broken(f"{label} must be '<node id>.<input>' or a list of them")
            node, field = match.groups()
            if node not in graph or field not in graph[node]["inputs"]:
                raise broken(f"{label} points at {target!r}, which is not in the graph")
            parsed.append((node, field))
        if not parsed:
            raise broken(f"{label} binds nothing")
        return tuple(parsed)

    sections = {}
    for section in ("bind", "inputs"):
        entries = document.get(section, {})
        if not isinstance(entries, dict):
            raise broken(f"'{section}' must map names to node inputs")
        sections[section] = {
            str(key): targets(f"{section}.{key}", value) for key, value in entries.items()
        }
    clash = set(sections["bind"]) & set(sections["inputs"])
    if clash:
        raise broken(f"{', '.join(sorted(clash))} is both a bound value and an input")
    outputs = document.get("outputs")
    if outputs is not None and (
        not isinstance(outputs, list) or not outputs or not all(o in graph for o in outputs)
    ):
        raise broken("'outputs' must list node ids of the graph")
    description = document.get("description", "")
    return Workflow(
        name=name,
        sha256=hashlib.sha256(raw).hexdigest(),
        description=description if isinstance(description, str) else "",
        graph=graph,
        bind=sections["bind"],
        inputs=sections["inputs"],
        outputs=tuple(outputs) if outputs is not None else None,
    )


def _values(workflow: Workflow, values: Any) -> dict[str, Any]:
    """``values`` checked against the workflow's bindings: known names, plain values."""
    if not isinstance(values, dict):
        raise bad_parameter(NAME, "'values' must be an object of names and values.")
    settable = sorted(set(workflow.bind) - set(RESERVED))
    checked = {}
    for name, value in values.items():
        if name not in settable:
            raise bad_parameter(
                NAME,
                f"The workflow {workflow.name!r} has nothing bound to {name!r}; it takes "
                f"{', '.join(settable) or 'no values'}.",
            )
        if not isinstance(value, str | int | float | bool) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            raise bad_parameter(
                NAME, f"'values.{name}' must be text, a number or true/false, not {value!r}."
            )
        checked[name] = value
    return checked


def _parts(workflow: Workflow, inputs: Sequence[BackendInput]) -> None:
    """Every input part the workflow needs, once each, and nothing else."""
    given = [item.part for item in inputs]
    wanted = sorted(workflow.inputs)
    extra = sorted(set(given) - set(wanted))
    missing = sorted(set(wanted) - set(given))
    if extra or missing or len(given) != len(set(given)):
        raise InvalidInput(
            f"The workflow {workflow.name!r} takes exactly one of each of these inputs: "
            f"{', '.join(wanted) or 'none'}"
            + (f"; {', '.join(missing)} missing" if missing else "")
            + (f"; {', '.join(extra)} not taken" if extra else "")
            + ".",
            code=f"backend.{NAME}.wrong_inputs",
            wanted=wanted,
            given=given,
        )
    for item in inputs:
        if item.media_type not in _IMAGE_TYPES:
            raise InvalidInput(
                f"The {item.part} must be a PNG, JPEG or WebP image (sent as "
                f"{item.media_type}); convert it and try again.",
                code=f"backend.{NAME}.unsupported_type",
                part=item.part,
            )


def _put(graph: dict[str, Any], targets: Sequence[Target], value: Any) -> None:
    for node, field in targets:
        graph[node]["inputs"][field] = value


def _safe(node: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", node)


# Talking to ComfyUI.


def _upload(
    service: VendorService,
    workflow: Workflow,
    inputs: Sequence[BackendInput],
    graph: dict[str, Any],
    client_id: str,
    progress: Progress,
) -> list[str]:
    """Upload each input under a name of this run's own; point its nodes at it."""
    names = []
    for position, item in enumerate(inputs):
        progress(0.05 * position / max(len(inputs), 1), f"uploading the {item.part}")
        # Our own name, so two runs never overwrite each other's inputs.
        name = f"{client_id[:12]}-{position}-{_safe(item.path.stem)[:40]}{item.path.suffix}"
        response = service.call(
            "POST",
            "upload/image",
            f"uploading the {item.part}",
            data={"type": "input", "subfolder": UPLOAD_FOLDER, "overwrite": "true"},
            files=[("image", (name, item.path.read_bytes(), item.media_type))],
        )
        body = service.json(response, f"uploading the {item.part}")
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise service.bad_response(f"answered the upload of the {item.part} without a name")
        subfolder = body.get("subfolder") or ""
        reference = f"{subfolder}/{body['name']}" if subfolder else body["name"]
        _put(graph, workflow.inputs[item.part], reference)
        names.append(reference)
    return names


def _submit(service: VendorService, graph: dict[str, Any], client_id: str) -> dict[str, Any]:
    doing = "submitting the workflow"

    def rejected(response: httpx.Response) -> InvalidInput:
        return InvalidInput(
            f"ComfyUI refused the workflow: {_refusal(service, response)}. Check that the "
            "workflow's models and custom nodes are installed on the ComfyUI server and "
            "that the request's values suit it.",
            code=f"backend.{NAME}.workflow_rejected",
            status=response.status_code,
        )

    response = service.call(
        "POST", "prompt", doing, json={"prompt": graph, "client_id": client_id}, rejected=rejected
    )
    body = service.json(response, doing)
    if not isinstance(body, dict) or not isinstance(body.get("prompt_id"), str):
        raise service.bad_response("answered the workflow's submission without a prompt_id")
    return body


def _refusal(service: VendorService, response: httpx.Response) -> str:
    """ComfyUI's reasons for refusing a graph, node by node."""
    reasons = [service.service_message(response)]
    try:
        node_errors = response.json().get("node_errors") or {}
    except (ValueError, AttributeError):
        node_errors = {}
    if isinstance(node_errors, dict):
        for node, report in node_errors.items():
            errors = report.get("errors", []) if isinstance(report, dict) else []
            for error in errors if isinstance(errors, list) else []:
                if isinstance(error, dict):
                    detail = error.get("details") or error.get("message")
                    kind = report.get("class_type", "?")
                    reasons.append(f"node {node} ({kind}): {detail}")
    return service.redact("; ".join(reasons))


def _wait(
    service: VendorService, prompt_id: str, interval: float, progress: Progress
) -> dict[str, Any]:
    """Poll the history until ComfyUI has an entry for ``prompt_id``; that entry."""
    started = time.monotonic()
    while True:
        response = service.call("GET", f"history/{prompt_id}", "waiting for the workflow")
        body = service.json(response, "waiting for the workflow")
        if not isinstance(body, dict):
            raise service.bad_response("answered a history request with something not an object")
        entry = body.get(prompt_id)
        if entry is not None:
            if (
                not isinstance(entry, dict)
                or not isinstance(entry.get("outputs"), dict)
                or not isinstance(entry.get("status"), dict)
            ):
                raise service.bad_response(
                    "sent a history entry without 'outputs' and 'status' objects"
                )
            return entry
        waited = time.monotonic() - started
        progress(0.15, f"waiting for ComfyUI ({waited:.0f} s)")
        if service.deadline.expired():
            raise service.deadline.error("waiting for ComfyUI to finish the workflow")
        time.sleep(min(interval, service.deadline.remaining()))


def _execution(
    service: VendorService, workflow: Workflow, prompt_id: str, entry: Mapping[str, Any]
) -> dict[str, Any]:
    """ComfyUI's account of the run; raises ``workflow_failed`` if it did not succeed."""
    status = entry["status"]
    messages = status.get("messages")
    events: dict[str, Any] = {}
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, list) and len(message) == 2 and isinstance(message[1], dict):
            events.setdefault(str(message[0]), message[1])
    start = events.get("execution_start", {}).get("timestamp")
    end_event = events.get("execution_success") or events.get("execution_error") or {}
    end = end_event.get("timestamp")
    execution: dict[str, Any] = {
        "status": status.get("status_str"),
        "completed": status.get("completed"),
        "cached_nodes": events.get("execution_cached", {}).get("nodes", []),
    }
    if isinstance(start, int | float) and isinstance(end, int | float):
        execution["started_ms"], execution["finished_ms"] = start, end
        execution["duration_ms"] = end - start
    if status.get("status_str") != "success" or status.get("completed") is not True:
        error = events.get("execution_error") or events.get("execution_interrupted") or {}
        where = (
            f"node {error.get('node_id')} ({error.get('node_type')})"
            if error
            else "an unknown node"
        )
        reason = error.get("exception_message") or "no reason given"
        raise InvalidInput(
            f"ComfyUI ran the workflow {workflow.name!r} but it failed at {where}: "
            f"{service.redact(str(reason).strip())}. Fix the cause on the ComfyUI server (or "
            "change the request's values) and run it again.",
            code=f"backend.{NAME}.workflow_failed",
            prompt_id=prompt_id,
            node=error.get("node_id"),
            exception_type=error.get("exception_type"),
        )
    return execution


def _saved(
    service: VendorService, workflow: Workflow, entry: Mapping[str, Any]
) -> list[tuple[str, dict[str, str]]]:
    """The images the workflow saved (previews left out), by node, in node order."""
    outputs = entry["outputs"]
    nodes = workflow.outputs if workflow.outputs is not None else tuple(outputs)
    saved = []
    for node in nodes:
        report = outputs.get(node, {})
        images = report.get("images", []) if isinstance(report, dict) else None
        if not isinstance(images, list):
            raise service.bad_response(f"listed node {node}'s images as something not a list")
        for item in images:
            if not isinstance(item, dict) or not all(
                isinstance(item.get(k), str) for k in ("filename", "subfolder", "type")
            ):
                raise service.bad_response(
                    f"listed an image of node {node} without filename, subfolder and type"
                )
            if item["type"] == "output":  # "temp" ones are previews, not results
                saved.append((node, item))
    if not saved:
        raise InvalidInput(
            f"The workflow {workflow.name!r} finished but saved no image; it needs a "
            "SaveImage node (and, if the file lists 'outputs', one of those).",
            code=f"backend.{NAME}.no_outputs",
        )
    return saved


def _withdraw(url: str, api_key: str | None, settings: Settings, prompt_id: str) -> None:
    """Take a timed-out prompt off ComfyUI's queue, or stop it if it is running.

    Best effort, within two seconds: the run has failed either way. The running
    prompt is interrupted only when it is ours, because older ComfyUI versions
    interrupt whatever runs.
    """
    policy = settings.http
    quick = replace(
        policy,
        connect_timeout=min(policy.connect_timeout, 1.0),
        read_timeout=min(policy.read_timeout, 1.0),
        retries=0,
    )
    deadline = Deadline(NAME, 2.0, "GREENLIGHT_COMFYUI_TIME_LIMIT")
    try:
        with VendorService(
            NAME, url, quick, deadline, api_key=api_key, key_setting="GREENLIGHT_COMFYUI_API_KEY"
        ) as service:
            queue = service.json(service.call("GET", "queue", "reading the queue"), "queue")
            running = queue.get("queue_running", []) if isinstance(queue, dict) else []
            if any(isinstance(item, list) and prompt_id in item[:2] for item in running):
                service.call("POST", "interrupt", "interrupting", json={"prompt_id": prompt_id})
            service.call("POST", "queue", "withdrawing", json={"delete": [prompt_id]})
    except (GreenlightError, httpx.HTTPError):
        pass
