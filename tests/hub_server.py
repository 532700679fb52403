"""A stand-in Hugging Face Hub on 127.0.0.1 for tests: just enough of the HTTP API for huggingface_hub 2.4.

Model and Space repos (``/api/models/...``, ``/api/spaces/...``; a Space's files live under
``/spaces/{repo}/resolve/...``). Repos are keyed ``owner/name`` for models and ``spaces/owner/name`` for Spaces.

Downloads: HEAD/GET ``/{repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit`` and ``ETag``;
``/api/{type}s/{repo}[/revision/{rev}]`` and ``/api/{type}s/{repo}/tree/{rev}``; 404s carry
``X-Error-Code: RepoNotFound | RevisionNotFound | EntryNotFound`` as the real Hub does.
Uploads, as huggingface_hub 2.4's ``create_commit`` makes them:
- ``POST /api/repos/create`` (``type`` model or space; a Space needs ``sdk``; with ``paid=False`` the stand-in
  is a free account and refuses a Space on anything but ZeroGPU with 402, as the Hub does since July 2026);
- ``/api/validate-yaml`` (card metadata);
- ``/api/{type}s/{repo}/preupload/{rev}``: each file "lfs" when :meth:`StandInHub.is_lfs` says so (over 10 MB,
  as on the Hub, or a suffix in ``lfs_suffixes``), else "regular", with the ``oid`` of the file already there
  so the client drops unchanged files and an unchanged commit is never sent;
- LFS files: ``POST /{repo}.git/info/lfs/objects/batch`` (basic transfer: an upload ``href`` unless the
  object is already stored), ``PUT /lfs-objects/{sha256}`` (plain or chunked body, checked against its
  sha256) and ``POST /lfs-objects/{sha256}/verify``. The client only takes this path when Xet is off:
  with ``hf_xet`` installed set ``HF_HUB_DISABLE_XET=1`` (read at import) or
  ``huggingface_hub.constants.HF_HUB_DISABLE_XET = True``; the stand-in has no Xet storage;
- ``/api/{type}s/{repo}/commit/{rev}`` (ndjson: ``header``, ``file`` base64, ``lfsFile`` by sha256,
  ``deletedFile``, ``deletedFolder``).
Writes need ``Authorization: Bearer <token>``; private repos are hidden from requests without it.
``refuse`` holds path prefixes answered 403, to fail a deploy halfway.
Every request is logged in ``hub.requests`` so tests can assert what did (or did not) go over the wire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

TOKEN = "hf_standin_token"
LFS_THRESHOLD = 10 * 1024 * 1024
"""Files at least this big go through LFS on the Hub whatever their name (huggingface_hub's docs: over 10 MB)."""
REPO_TYPES = ("model", "space", "dataset")


@dataclass
class Repo:
    """One repo: commits (sha -> files) and refs (branch or tag -> sha)."""

    private: bool = False
    repo_type: str = "model"
    sdk: str | None = None
    hardware: str | None = None
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        """The commit sha that ``revision`` (a ref or a sha) names, or None."""
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


class StandInHub:
    """The Hub's state plus a threaded HTTP server serving it; use as a context manager."""

    def __init__(self, *, lfs_suffixes: tuple[str, ...] = (), paid: bool = True) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.created: list[dict] = []
        self.lfs_suffixes = lfs_suffixes
        self.paid = paid
        self.lfs_objects: dict[str, bytes] = {}
        self.refuse: set[str] = set()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval makes shutdown (once per test) take milliseconds instead of half a second.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def endpoint(self) -> str:
        """The base URL to use as ``HF_ENDPOINT``."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> StandInHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def commit(
        self,
        repo_id: str,
        files: dict[str, bytes],
        ref: str = "main",
        private: bool = False,
        repo_type: str = "model",
        deleted: tuple[str, ...] = (),
    ) -> str:
        """Add a commit on ``ref`` (creating the repo) whose tree is the parent's updated with ``files``;
        a path in ``deleted`` ending in ``/`` removes that folder."""
        with self._lock:
            repo = self.repos.setdefault(repo_key(repo_type, repo_id), Repo(private=private, repo_type=repo_type))
            parent = repo.refs.get(ref)
            tree = dict(repo.commits[parent]) if parent else {}
            for path in deleted:
                for name in [n for n in tree if n == path or (path.endswith("/") and n.startswith(path))]:
                    del tree[name]
            tree.update(files)
            digest = hashlib.sha1(f"{repo_id}\0{parent}\0{len(repo.commits)}".encode())
            for name in sorted(tree):
                digest.update(name.encode() + b"\0" + hashlib.sha256(tree[name]).digest())
            sha = digest.hexdigest()
            repo.commits[sha] = tree
            repo.refs[ref] = sha
            return sha

    def tag(self, repo_id: str, tag: str, sha: str) -> None:
        """Point ``tag`` at commit ``sha``."""
        with self._lock:
            self.repos[repo_id].refs[tag] = sha

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        """The files of ``repo_id`` at ``revision``."""
        repo = self.repos[repo_key(repo_type, repo_id)]
        if not repo.commits:  # created but never committed to
            return {}
        return dict(repo.commits[repo.resolve(revision)])

    def history(self, repo_id: str, repo_type: str = "model") -> int:
        """How many commits ``repo_id`` has."""
        return len(self.repos[repo_key(repo_type, repo_id)].commits)

    def is_lfs(self, path: str, size: int) -> bool:
        """Whether the Hub would store this file with LFS (Xet) rather than in git."""
        return size >= LFS_THRESHOLD or path.endswith(self.lfs_suffixes)

    def file_oid(self, path: str, data: bytes) -> str:
        """The oid preupload reports for a stored file: sha256 of an LFS file, git's blob sha1 otherwise."""
        return hashlib.sha256(data).hexdigest() if self.is_lfs(path, len(data)) else _git_blob_oid(data)

    def paths_requested(self, prefix: str = "") -> list[str]:
        """The paths of logged requests that start with ``prefix``."""
        with self._lock:
            return [path for _, path in self.requests if path.startswith(prefix)]


def _handler_for(hub: StandInHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
            pass

        def do_HEAD(self) -> None:
            self._route("HEAD")

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

        # -- routing -------------------------------------------------------------------------
        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            with hub._lock:
                hub.requests.append((method, url.path))
            body = self._body() if method in ("POST", "PUT") else b""
            if any(url.path.startswith(prefix) for prefix in hub.refuse):
                return self._error(403, "Refused by the stand-in Hub for this test", None)
            parts = url.path.split("/")[1:]  # split before unquoting: a revision may hold %2F
            if method == "POST" and url.path == "/api/repos/create":
                return self._create_repo(body)
            if method == "POST" and url.path == "/api/validate-yaml":
                return self._validate_yaml(body)
            if parts[0] == "lfs-objects" and len(parts) >= 2:
                return self._lfs_object(method, parts[1], parts[2:], body)
            if len(parts) >= 4 and parts[0] == "api" and parts[1].rstrip("s") in REPO_TYPES:
                key = _key(parts[1], parts[2], parts[3])
                if len(parts) == 4 and method == "GET":
                    return self._repo_info(key, "main")
                action, rest = (parts[4], [unquote(p) for p in parts[5:]]) if len(parts) >= 5 else ("", [])
                if method == "GET" and action == "revision" and rest:
                    return self._repo_info(key, rest[0])
                if method == "GET" and action == "tree" and rest:
                    return self._tree(key, rest[0])
                if method == "POST" and action == "preupload" and rest:
                    return self._preupload(key, rest[0], body)
                if method == "POST" and action == "commit" and rest:
                    return self._commit(key, rest[0], body)
            if parts[0] in ("spaces", "datasets"):  # /spaces/{owner}/{name}/... is a Space's; /{owner}/{name} a model's
                prefix, parts = parts[0], parts[1:]
            else:
                prefix = "models"
            if method == "POST" and len(parts) == 6 and parts[1].endswith(".git") and parts[2:] == LFS_BATCH:
                return self._lfs_batch(_key(prefix, parts[0], parts[1].removesuffix(".git")), body)
            if method in ("HEAD", "GET") and len(parts) >= 5 and parts[2] == "resolve":
                key = _key(prefix, parts[0], parts[1])
                return self._resolve(method, key, unquote(parts[3]), "/".join(unquote(p) for p in parts[4:]))
            self._error(404, "Not found", None)

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()  # the blank line after the last chunk (no trailers are sent)
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        # -- downloads -----------------------------------------------------------------------
        def _repo(self, key: str) -> Repo | None:
            repo = hub.repos.get(key)
            if repo is None or (repo.private and not self._authorized()):
                self._error(404, "Repository not found", "RepoNotFound")
                return None
            return repo

        def _commit_of(self, repo: Repo, revision: str) -> str | None:
            sha = repo.resolve(revision)
            if sha is None:
                self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return sha

        def _resolve(self, method: str, key: str, revision: str, filename: str) -> None:
            repo = self._repo(key)
            sha = repo and self._commit_of(repo, revision)
            if not sha:
                return
            data = repo.commits[sha].get(filename)
            if data is None:
                return self._error(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
            headers = {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
            self._send(200, data, "application/octet-stream", headers, head=method == "HEAD")

        def _repo_info(self, key: str, revision: str) -> None:
            repo = self._repo(key)
            sha = repo and self._commit_of(repo, revision)
            if sha:
                siblings = [{"rfilename": name} for name in sorted(repo.commits[sha])]
                info = {"id": _repo_id(key), "sha": sha, "private": repo.private, "siblings": siblings}
                if repo.repo_type == "space":
                    info["sdk"] = repo.sdk
                self._json(200, info)

        def _tree(self, key: str, revision: str) -> None:
            repo = self._repo(key)
            sha = repo and self._commit_of(repo, revision)
            if sha:
                entries = []
                for name, data in sorted(repo.commits[sha].items()):
                    entry = {"type": "file", "path": name, "size": len(data), "oid": _git_blob_oid(data)}
                    if hub.is_lfs(name, len(data)):
                        lfs = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
                        entry["lfs"] = lfs
                    entries.append(entry)
                self._json(200, entries)

        # -- uploads -------------------------------------------------------------------------
        def _create_repo(self, body: bytes) -> None:
            if not self._authorized():
                return self._error(401, "Invalid username or password.", None)
            payload = json.loads(body)
            hub.created.append(payload)
            repo_type = payload.get("type", "model")
            repo_id = f"{payload['organization']}/{payload['name']}"
            key = repo_key(repo_type, repo_id)
            url = f"{hub.endpoint}/{key}"
            if key in hub.repos:  # the real Hub's 409 carries the url too; create_repo(exist_ok=True) reads it
                message = f"You already created this {repo_type} repo"
                return self._json(409, {"error": message, "url": url}, {"X-Error-Message": message})
            if repo_type == "space" and not payload.get("sdk"):
                return self._error(400, "A Space needs an sdk", None)
            hardware = payload.get("hardware")
            static = payload.get("sdk") == "static"  # static Spaces are free for every account
            if repo_type == "space" and not static and not hub.paid and not str(hardware).startswith("zero-"):
                message = "Creating a Space on CPU hardware requires a paid plan; free accounts can use ZeroGPU"
                return self._error(402, message, None)
            with hub._lock:
                hub.repos[key] = Repo(
                    private=payload.get("visibility") == "private",
                    repo_type=repo_type,
                    sdk=payload.get("sdk"),
                    hardware=hardware,
                )
            self._json(200, {"url": url, "name": repo_id})

        def _validate_yaml(self, body: bytes) -> None:
            # The real Hub checks a model card's front matter; the stand-in rejects one marker so tests can.
            if "license: not-a-license" in json.loads(body)["content"]:
                errors = [{"message": '"license" must be one of [apache-2.0, mit, ...]'}]
                return self._json(400, {"errors": errors, "warnings": []}, {"X-Error-Message": "Invalid metadata"})
            self._json(200, {"errors": [], "warnings": []})

        def _preupload(self, key: str, revision: str, body: bytes) -> None:
            if not self._authorized():
                return self._error(401, "Invalid username or password.", None)
            repo = self._repo(key)
            if repo is None:
                return
            sha = repo.resolve(revision)
            existing = repo.commits[sha] if sha else {}
            modes = []
            for f in json.loads(body)["files"]:
                mode = {"path": f["path"], "uploadMode": "lfs" if hub.is_lfs(f["path"], f["size"]) else "regular"}
                mode["shouldIgnore"] = False
                if f["path"] in existing:
                    mode["oid"] = hub.file_oid(f["path"], existing[f["path"]])
                modes.append(mode)
            self._json(200, {"files": modes})

        def _lfs_batch(self, key: str, body: bytes) -> None:
            if not self._authorized():
                return self._error(401, "Invalid username or password.", None)
            if self._repo(key) is None:
                return
            objects = []
            for obj in json.loads(body)["objects"]:
                entry = {"oid": obj["oid"], "size": obj["size"]}
                if obj["oid"] not in hub.lfs_objects:  # already stored: no actions, the client skips the upload
                    href = f"{hub.endpoint}/lfs-objects/{obj['oid']}"
                    entry["actions"] = {"upload": {"href": href}, "verify": {"href": f"{href}/verify"}}
                objects.append(entry)
            self._json(200, {"transfer": "basic", "objects": objects})

        def _lfs_object(self, method: str, oid: str, rest: list[str], body: bytes) -> None:
            if method == "PUT" and not rest:
                if hashlib.sha256(body).hexdigest() != oid:
                    return self._error(400, "LFS object does not match its sha256", None)
                with hub._lock:
                    hub.lfs_objects[oid] = body
                return self._send(200, b"", "text/plain", {})
            if method == "POST" and rest == ["verify"]:
                if not self._authorized():
                    return self._error(401, "Invalid username or password.", None)
                if oid not in hub.lfs_objects or len(hub.lfs_objects[oid]) != json.loads(body)["size"]:
                    return self._error(404, "LFS object not found", None)
                return self._json(200, {"message": "ok"})
            self._error(404, "Not found", None)

        def _commit(self, key: str, revision: str, body: bytes) -> None:
            if not self._authorized():
                return self._error(401, "Invalid username or password.", None)
            repo = self._repo(key)
            if repo is None:
                return
            files: dict[str, bytes] = {}
            deleted: list[str] = []
            for line in body.splitlines():
                key_, value = (item := json.loads(line))["key"], item["value"]
                if key_ == "file" and value.get("encoding") == "base64":
                    files[value["path"]] = base64.b64decode(value["content"])
                elif key_ == "lfsFile":
                    if value["oid"] not in hub.lfs_objects:
                        return self._error(
                            400, f"LFS object {value['oid']} for {value['path']} was never uploaded", None
                        )
                    files[value["path"]] = hub.lfs_objects[value["oid"]]
                elif key_ == "deletedFile":
                    deleted.append(value["path"])
                elif key_ == "deletedFolder":
                    deleted.append(value["path"].rstrip("/") + "/")
                elif key_ != "header":
                    return self._error(400, f"stand-in Hub does not support {key_}", None)
            sha = hub.commit(_repo_id(key), files, ref=revision, repo_type=repo.repo_type, deleted=tuple(deleted))
            self._json(200, {"commitUrl": f"{hub.endpoint}/{key}/commit/{sha}", "commitOid": sha})

        # -- helpers -------------------------------------------------------------------------
        def _authorized(self) -> bool:
            return self.headers.get("Authorization") == f"Bearer {TOKEN}"

        def _json(self, status: int, payload: object, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json", headers or {})

        def _error(self, status: int, message: str, code: str | None, headers: dict[str, str] | None = None) -> None:
            headers = {**(headers or {}), "X-Error-Message": message}
            if code:
                headers["X-Error-Code"] = code
            self._json(status, {"error": message}, headers)

        def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str], head: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler


LFS_BATCH = ["info", "lfs", "objects", "batch"]


def repo_key(repo_type: str, repo_id: str) -> str:
    """How the stand-in files a repo: ``owner/name`` for a model, ``spaces/owner/name`` for a Space."""
    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}")
    return repo_id if repo_type == "model" else f"{repo_type}s/{repo_id}"


def _key(plural: str, owner: str, name: str) -> str:
    return repo_key(plural.rstrip("s"), f"{unquote(owner)}/{unquote(name)}")


def _repo_id(key: str) -> str:
    return "/".join(key.split("/")[-2:])


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class Blackhole:
    """A port that accepts connections and never answers: the network looks up but the Hub hangs."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.connections = 0
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def endpoint(self) -> str:
        """The base URL to use as ``HF_ENDPOINT``."""
        host, port = self._sock.getsockname()
        return f"http://{host}:{port}"

    def _accept(self) -> None:
        self._sock.settimeout(0.05)  # wake up now and then to notice the close
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)

    def __enter__(self) -> Blackhole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._thread.join()
        self._sock.close()
        for conn in self._held:
            conn.close()


def closed_port_endpoint() -> str:
    """An endpoint where nothing listens, so connecting is refused at once (no network)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
