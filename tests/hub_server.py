"""A stand-in Hugging Face Hub on 127.0.0.1 for tests: just enough of the HTTP API for huggingface_hub 2.4.

Downloads: HEAD/GET ``/{repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit`` and ``ETag``;
``/api/models/{repo}[/revision/{rev}]`` and ``/api/models/{repo}/tree/{rev}``; 404s carry
``X-Error-Code: RepoNotFound | RevisionNotFound | EntryNotFound`` as the real Hub does.
Uploads: ``POST /api/repos/create``, ``/api/validate-yaml`` (model card metadata),
``/api/models/{repo}/preupload/{rev}`` (every file "regular", so no LFS or Xet storage is needed) and
``/api/models/{repo}/commit/{rev}`` (ndjson, base64 content).
Writes need ``Authorization: Bearer <token>``; private repos are hidden from requests without it.
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


@dataclass
class Repo:
    """One model repo: commits (sha -> files) and refs (branch or tag -> sha)."""

    private: bool = False
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> str | None:
        """The commit sha that ``revision`` (a ref or a sha) names, or None."""
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


class StandInHub:
    """The Hub's state plus a threaded HTTP server serving it; use as a context manager."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str]] = []
        self.created: list[dict] = []
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

    def commit(self, repo_id: str, files: dict[str, bytes], ref: str = "main", private: bool = False) -> str:
        """Add a commit on ``ref`` (creating the repo) whose tree is the parent's updated with ``files``."""
        with self._lock:
            repo = self.repos.setdefault(repo_id, Repo(private=private))
            parent = repo.refs.get(ref)
            tree = {**(repo.commits[parent] if parent else {}), **files}
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

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        """The files of ``repo_id`` at ``revision``."""
        repo = self.repos[repo_id]
        if not repo.commits:  # created but never committed to
            return {}
        return dict(repo.commits[repo.resolve(revision)])

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

        # -- routing -------------------------------------------------------------------------
        def _route(self, method: str) -> None:
            url = urlsplit(self.path)
            with hub._lock:
                hub.requests.append((method, url.path))
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
            parts = url.path.split("/")[1:]  # split before unquoting: a revision may hold %2F
            if method == "POST" and url.path == "/api/repos/create":
                return self._create_repo(body)
            if method == "POST" and url.path == "/api/validate-yaml":
                return self._validate_yaml(body)
            if len(parts) >= 5 and parts[0] == "api" and parts[1] == "models":
                repo_id = f"{unquote(parts[2])}/{unquote(parts[3])}"
                action, rest = parts[4], [unquote(p) for p in parts[5:]]
                if method == "GET" and action == "revision" and rest:
                    return self._model_info(repo_id, rest[0])
                if method == "GET" and action == "tree" and rest:
                    return self._tree(repo_id, rest[0])
                if method == "POST" and action == "preupload" and rest:
                    return self._preupload(repo_id, body)
                if method == "POST" and action == "commit" and rest:
                    return self._commit(repo_id, rest[0], body)
            if method == "GET" and len(parts) == 4 and parts[:2] == ["api", "models"]:
                return self._model_info(f"{unquote(parts[2])}/{unquote(parts[3])}", "main")
            if method in ("HEAD", "GET") and len(parts) >= 5 and parts[2] == "resolve":
                repo_id = f"{unquote(parts[0])}/{unquote(parts[1])}"
                return self._resolve(method, repo_id, unquote(parts[3]), "/".join(unquote(p) for p in parts[4:]))
            self._error(404, "Not found", None)

        # -- downloads -----------------------------------------------------------------------
        def _repo(self, repo_id: str) -> Repo | None:
            repo = hub.repos.get(repo_id)
            if repo is None or (repo.private and not self._authorized()):
                self._error(404, "Repository not found", "RepoNotFound")
                return None
            return repo

        def _commit_of(self, repo: Repo, revision: str) -> str | None:
            sha = repo.resolve(revision)
            if sha is None:
                self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            return sha

        def _resolve(self, method: str, repo_id: str, revision: str, filename: str) -> None:
            repo = self._repo(repo_id)
            sha = repo and self._commit_of(repo, revision)
            if not sha:
                return
            data = repo.commits[sha].get(filename)
            if data is None:
                return self._error(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
            headers = {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha256(data).hexdigest()}"'}
            self._send(200, data, "application/octet-stream", headers, head=method == "HEAD")

        def _model_info(self, repo_id: str, revision: str) -> None:
            repo = self._repo(repo_id)
            sha = repo and self._commit_of(repo, revision)
            if sha:
                siblings = [{"rfilename": name} for name in sorted(repo.commits[sha])]
                self._json(200, {"id": repo_id, "sha": sha, "private": repo.private, "siblings": siblings})

        def _tree(self, repo_id: str, revision: str) -> None:
            repo = self._repo(repo_id)
            sha = repo and self._commit_of(repo, revision)
            if sha:
                tree = repo.commits[sha]
                entries = [
                    {"type": "file", "path": name, "size": len(data), "oid": _git_blob_oid(data)}
                    for name, data in sorted(tree.items())
                ]
                self._json(200, entries)

        # -- uploads -------------------------------------------------------------------------
        def _create_repo(self, body: bytes) -> None:
            if not self._authorized():
                return self._error(401, "Invalid username or password.", None)
            payload = json.loads(body)
            hub.created.append(payload)
            repo_id = f"{payload['organization']}/{payload['name']}"
            url = f"{hub.endpoint}/{repo_id}"
            if repo_id in hub.repos:  # the real Hub's 409 carries the url too; create_repo(exist_ok=True) reads it
                message = "You already created this model repo"
                return self._json(409, {"error": message, "url": url}, {"X-Error-Message": message})
            with hub._lock:
                hub.repos[repo_id] = Repo(private=payload.get("visibility") == "private")
            self._json(200, {"url": url, "name": repo_id})

        def _validate_yaml(self, body: bytes) -> None:
            # The real Hub checks a model card's front matter; the stand-in rejects one marker so tests can.
            if "license: not-a-license" in json.loads(body)["content"]:
                errors = [{"message": '"license" must be one of [apache-2.0, mit, ...]'}]
                return self._json(400, {"errors": errors, "warnings": []}, {"X-Error-Message": "Invalid metadata"})
            self._json(200, {"errors": [], "warnings": []})

        def _preupload(self, repo_id: str, body: bytes) -> None:
            if not self._authorized():
                return self._error(401, "Invalid username or password.", None)
            if self._repo(repo_id) is None:
                return
            files = json.loads(body)["files"]
            modes = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]
            self._json(200, {"files": modes})

        def _commit(self, repo_id: str, revision: str, body: bytes) -> None:
            if not self._authorized():
                return self._error(401, "Invalid username or password.", None)
            if self._repo(repo_id) is None:
                return
            files: dict[str, bytes] = {}
            for line in body.splitlines():
                item = json.loads(line)
                if item["key"] == "file" and item["value"].get("encoding") == "base64":
                    files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                elif item["key"] != "header":
                    return self._error(400, f"stand-in Hub does not support {item['key']}", None)
            sha = hub.commit(repo_id, files, ref=revision)
            self._json(200, {"commitUrl": f"{hub.endpoint}/{repo_id}/commit/{sha}", "commitOid": sha})

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
