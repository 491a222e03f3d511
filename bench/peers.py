"""The three servers under test, one process each, and what each is asked.

    A  partner-leads   one uvicorn process of app.asgi:app (APP_ENV=test), as deployed
    B  PostGraphile v5 one Node 22 process, Amber preset, `public` schema (bench/.peers/)
    C  raw ceiling     one uvicorn process of bench.raw_app:app: one SQL statement a request

Each peer has its own documents for the four operations (PostGraphile's schema is generated
from the tables, so its documents name columns and relations); A and C take the same requests.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.config import PROJECT_ROOT
from bench.world import World

BENCH = Path(__file__).resolve().parent
PEERS_DIR = BENCH / ".peers"
OUT = BENCH / "out"
NODE_PACKAGE = "node@22"
POSTGRAPHILE_PACKAGE = "postgraphile@5"

OPERATIONS = ("Q1", "Q2", "Q3", "M1", "C1")
Q2_STAGE, Q2_TYPE = "ACCEPTED", "SALES_QUALIFIED"
TAB = "QUALIFIED"
PAGE = 50
DEAL = {"name": "Bench deal", "amount": "25000", "currency": "USD", "date": "2027-06-30"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(port: int, body: dict[str, Any], token: str, timeout: float = 30) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            result: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"HTTP {exc.code}: {exc.read()[:500]!r}") from exc
    return result


@dataclass
class Request:
    """One operation as a peer is asked it: the body (with "$ID" where ids rotate)."""

    body: dict[str, Any]
    token: str
    ids: list[str] | None = None
    once: bool = False  # each id once (M1)

    def with_id(self, lead_id: str) -> dict[str, Any]:
        return json.loads(json.dumps(self.body).replace("$ID", lead_id))


@dataclass
class Peer:
    key: str
    name: str
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    version: str = ""
    log: Path | None = None
    skipped: str | None = None  # why this peer does not run
    requests: dict[str, Request] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    # --- lifecycle ---

    def command(self, world: World) -> tuple[list[str], dict[str, str], Path]:
        raise NotImplementedError

    def start(self, world: World) -> None:
        self.port = free_port()
        args, env, cwd = self.command(world)
        OUT.mkdir(exist_ok=True)
        self.log = OUT / f"{self.key}-{self.name.split()[0].lower()}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                args, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_ready(self, world: World, timeout: float = 90) -> None:
        """Until the server answers Q1 with data (uvicorn may serve 500s after a failed
        start-up, so a listening socket is not enough)."""
        deadline = time.monotonic() + timeout
        probe = self.q1(world, world.target)
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                answer = post(self.port, probe.body, probe.token, timeout=10)
                if answer.get("data"):
                    return
                last = RuntimeError(json.dumps(answer)[:500])
            except (OSError, RuntimeError) as exc:
                last = exc
            time.sleep(0.3)
        tail = self.log.read_text(errors="replace")[-3000:] if self.log else ""
        raise SystemExit(f"{self.name} did not come up ({last}); its log:\n{tail}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    # --- what it is asked ---

    def q1(self, world: World, inbox: Any) -> Request:
        raise NotImplementedError

    def q2(self, world: World, after: str | None) -> Request:
        raise NotImplementedError

    def q3(self, world: World) -> Request:
        raise NotImplementedError

    def m1(self, world: World) -> Request:
        raise NotImplementedError

    def c1(self, world: World) -> Request | None:
        """leadCounts, or None when the peer has no equivalent."""
        return None

    def page(self, data: dict[str, Any]) -> tuple[list[str], str | None]:
        """A list answer's lead ids and end cursor."""
        raise NotImplementedError

    def detail(self, data: dict[str, Any]) -> tuple[str | None, list[str]]:
        """A detail answer's lead id and history entry ids."""
        raise NotImplementedError

    def accepted(self, data: dict[str, Any]) -> tuple[str | None, str | None]:
        """An M1 answer's lead id and stage."""
        raise NotImplementedError

    def prepare(self, world: World) -> None:
        """The requests for the timed runs; Q2's cursor comes from the peer's own page 1."""
        first = self.q2(world, None)
        answer = post(self.port, first.body, first.token)
        _, cursor = self.page(_data(self.name, "Q2 page 1", answer))
        if cursor is None:
            raise SystemExit(f"{self.name}: Q2's first page has no next page; pick other filters")
        self.requests = {
            "Q1": self.q1(world, world.target),
            "Q2": self.q2(world, cursor),
            "Q3": self.q3(world),
            "M1": self.m1(world),
        }
        counts = self.c1(world)
        if counts is not None:
            self.requests["C1"] = counts


def _data(name: str, op: str, answer: dict[str, Any]) -> dict[str, Any]:
    if answer.get("errors") or not answer.get("data"):
        raise SystemExit(f"{name} {op} failed: {json.dumps(answer)[:1000]}")
    data: dict[str, Any] = answer["data"]
    return data


# --- A: partner-leads, and C: the raw ceiling, which takes the same requests -----------------

LEAD_ROW = """id version type stage outcome receivedAt respondBy updatedAt
      customer { companyName companySize industry country contactName contactEmail need
        contactRequested }
      deal { name estimatedValue { amount currency } estimatedPurchaseDate crmId }
      team { id name email }"""

PL_Q1 = f"""query Q1($tab: LeadTab!, $first: Int!) {{
  leads(tab: $tab, first: $first) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{ {LEAD_ROW} }} }}
  }}
}}"""

PL_Q2 = f"""query Q2($tab: LeadTab!, $first: Int!, $after: String, $stages: [LeadStage!],
    $types: [LeadType!]) {{
  leads(tab: $tab, first: $first, after: $after, filter: {{stages: $stages, types: $types}}) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{ {LEAD_ROW} }} }}
  }}
}}"""

PL_Q3 = """query Q3($id: ID!) {
  lead(id: $id) {
    id version type stage outcome receivedAt respondBy
    customer { companyName contactName need }
    deal { name estimatedValue { amount currency } notes }
    team { id name email }
    history { id action fromStage toStage outcome at actor { kind name } }
  }
}"""

# C1: the inbox's badges. PostGraphile v5 has no grouped counts without a plugin, so only
# partner-leads and the raw ceiling run it.
PL_C1 = """query C1 { leadCounts { tab stage count } }"""

PL_M1 = """mutation M1($id: ID!, $dealName: String!, $estimatedValue: MoneyInput!,
    $estimatedPurchaseDate: Date!) {
  acceptLead(input: {id: $id, dealName: $dealName, estimatedValue: $estimatedValue,
      estimatedPurchaseDate: $estimatedPurchaseDate}) {
    lead { id version stage deal { name } }
    errors { code }
  }
}"""


class PartnerLeads(Peer):
    app = "app.asgi:app"

    def command(self, world: World) -> tuple[list[str], dict[str, str], Path]:
        env = dict(
            os.environ,
            DATABASE_URL=world.database_url,
            REDIS_URL=world.settings.redis_url or "",
            APP_ENV="test",
            LOG_LEVEL="WARNING",
        )
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            self.app,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--lifespan",
            "on",
        ]
        return args, env, PROJECT_ROOT

    def start(self, world: World) -> None:
        from importlib.metadata import version

        import strawberry  # noqa: F401

        self.version = f"strawberry-graphql {version('strawberry-graphql')}, uvicorn"
        super().start(world)

    def q1(self, world: World, inbox: Any) -> Request:
        return Request(
            {"query": PL_Q1, "operationName": "Q1", "variables": {"tab": TAB, "first": PAGE}},
            inbox.token,
        )

    def q2(self, world: World, after: str | None) -> Request:
        variables = {
            "tab": TAB,
            "first": PAGE,
            "after": after,
            "stages": [Q2_STAGE],
            "types": [Q2_TYPE],
        }
        return Request(
            {"query": PL_Q2, "operationName": "Q2", "variables": variables}, world.target.token
        )

    def q3(self, world: World) -> Request:
        body = {"query": PL_Q3, "operationName": "Q3", "variables": {"id": "$ID"}}
        return Request(body, world.target.token, ids=world.q3_ids)

    def m1(self, world: World) -> Request:
        variables = {
            "id": "$ID",
            "dealName": DEAL["name"],
            "estimatedValue": {"amount": DEAL["amount"], "currency": DEAL["currency"]},
            "estimatedPurchaseDate": DEAL["date"],
        }
        body = {"query": PL_M1, "operationName": "M1", "variables": variables}
        return Request(body, world.m1.token, ids=world.m1_pool, once=True)

    def c1(self, world: World) -> Request | None:
        return Request({"query": PL_C1, "operationName": "C1"}, world.target.token)

    def page(self, data: dict[str, Any]) -> tuple[list[str], str | None]:
        leads = data["leads"]
        ids = [e["node"]["id"] for e in leads["edges"]]
        info = leads["pageInfo"]
        return ids, info["endCursor"] if info["hasNextPage"] else None

    def detail(self, data: dict[str, Any]) -> tuple[str | None, list[str]]:
        lead = data["lead"]
        if lead is None:
            return None, []
        return lead["id"], [h["id"] for h in lead["history"]]

    def accepted(self, data: dict[str, Any]) -> tuple[str | None, str | None]:
        lead = data["acceptLead"]["lead"]
        return (lead["id"], lead["stage"]) if lead else (None, None)


class Raw(PartnerLeads):
    app = "bench.raw_app:app"

    def command(self, world: World) -> tuple[list[str], dict[str, str], Path]:
        args, env, cwd = super().command(world)
        env.update(
            JWT_SECRET=world.settings.jwt_secret,
            JWT_AUDIENCE=world.settings.jwt_audience,
            DB_POOL_SIZE=str(world.settings.db_pool_size),
            # The API's role, behind the tenancy wall, as partner-leads connects.
            DATABASE_URL=world.settings.api_database_url or "",
        )
        return args, env, cwd

    def start(self, world: World) -> None:
        from importlib.metadata import version

        super().start(world)
        self.version = (
            f"Starlette {version('starlette')}, asyncpg {version('asyncpg')}, "
            f"orjson {version('orjson')}, uvicorn"
        )


# --- B: PostGraphile v5 -----------------------------------------------------------------------

PG_ROW = """rowId version type stage outcome receivedAt respondBy updatedAt
      companyName companySize industry country contactName contactEmail need contactRequested
      dealName estimatedValueAmount estimatedValueCurrency estimatedPurchaseDate crmId
      leadTeamMembersByLeadId { nodes { rowId name email } }"""

PG_Q1 = f"""query Q1($org: UUID!, $tab: String!, $first: Int!) {{
  allLeads(condition: {{organisationId: $org, tab: $tab}},
      orderBy: [RECEIVED_AT_DESC, ROW_ID_DESC], first: $first) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{ {PG_ROW} }} }}
  }}
}}"""

PG_Q2 = f"""query Q2($org: UUID!, $tab: String!, $first: Int!, $after: Cursor, $stage: String,
    $type: String) {{
  allLeads(condition: {{organisationId: $org, tab: $tab, stage: $stage, type: $type}},
      orderBy: [RECEIVED_AT_DESC, ROW_ID_DESC], first: $first, after: $after) {{
    pageInfo {{ hasNextPage endCursor }}
    edges {{ cursor node {{ {PG_ROW} }} }}
  }}
}}"""

PG_Q3 = """query Q3($id: UUID!) {
  leadByRowId(rowId: $id) {
    rowId version type stage outcome receivedAt respondBy companyName contactName need
    dealName estimatedValueAmount estimatedValueCurrency notes
    leadTeamMembersByLeadId { nodes { rowId name email } }
    leadHistoriesByLeadId(orderBy: ROW_ID_ASC) {
      nodes { rowId action fromStage toStage outcome at actorKind userByActorUserId { name } }
    }
  }
}"""

PG_M1 = """mutation M1($id: UUID!, $patch: LeadPatch!) {
  updateLeadByRowId(input: {rowId: $id, leadPatch: $patch}) {
    lead { rowId version stage dealName }
  }
}"""


class PostGraphile(Peer):
    def install(self) -> None:
        """Node 22 and PostGraphile 5 from npm into bench/.peers (git-ignored), once."""
        node, cli = self._node(), self._cli()
        if not (node.exists() and cli.exists()):
            if shutil.which("npm") is None:
                self.skipped = "npm is not installed"
                return
            PEERS_DIR.mkdir(exist_ok=True)
            package = PEERS_DIR / "package.json"
            if not package.exists():
                package.write_text('{"name": "bench-peers", "private": true}\n')
            print(f"installing {NODE_PACKAGE} and {POSTGRAPHILE_PACKAGE} into {PEERS_DIR} ...")
            subprocess.run(
                [
                    "npm",
                    "install",
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    NODE_PACKAGE,
                    POSTGRAPHILE_PACKAGE,
                ],
                cwd=PEERS_DIR,
                check=True,
            )
            if not node.exists():
                raise SystemExit(
                    f"npm installed {NODE_PACKAGE} without its binary ({node}); npm may have "
                    "skipped its install script: run `npm install-scripts approve node` there"
                )
        shutil.copyfile(BENCH / "postgraphile.config.js", PEERS_DIR / "graphile.config.js")
        node_version = subprocess.run(
            [str(node), "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
        pg_version = json.loads(
            (PEERS_DIR / "node_modules" / "postgraphile" / "package.json").read_text()
        )["version"]
        self.version = f"PostGraphile {pg_version}, Node {node_version}"

    @staticmethod
    def _node() -> Path:
        return PEERS_DIR / "node_modules" / "node" / "bin" / "node"

    @staticmethod
    def _cli() -> Path:
        return PEERS_DIR / "node_modules" / "postgraphile" / "dist" / "cli-run.js"

    def command(self, world: World) -> tuple[list[str], dict[str, str], Path]:
        env = dict(
            os.environ,
            BENCH_PG_URL=world.graphile_url,
            JWT_SECRET=world.settings.jwt_secret,
            BENCH_PORT=str(self.port),
            NODE_ENV="production",
            GRAPHILE_ENV="production",
        )
        args = [str(self._node()), str(self._cli()), "-C", "graphile.config.js"]
        return args, env, PEERS_DIR

    def q1(self, world: World, inbox: Any) -> Request:
        variables = {"org": str(inbox.organisation_id), "tab": TAB, "first": PAGE}
        body = {"query": PG_Q1, "operationName": "Q1", "variables": variables}
        return Request(body, inbox.graphile_token)

    def q2(self, world: World, after: str | None) -> Request:
        variables = {
            "org": str(world.target.organisation_id),
            "tab": TAB,
            "first": PAGE,
            "after": after,
            "stage": Q2_STAGE,
            "type": Q2_TYPE,
        }
        return Request(
            {"query": PG_Q2, "operationName": "Q2", "variables": variables},
            world.target.graphile_token,
        )

    def q3(self, world: World) -> Request:
        body = {"query": PG_Q3, "operationName": "Q3", "variables": {"id": "$ID"}}
        return Request(body, world.target.graphile_token, ids=world.q3_ids)

    def m1(self, world: World) -> Request:
        patch = {
            "stage": "ACCEPTED",
            "dealName": DEAL["name"],
            "estimatedValueAmount": DEAL["amount"],
            "estimatedValueCurrency": DEAL["currency"],
            "estimatedPurchaseDate": DEAL["date"],
            "respondedAt": datetime.now(UTC).isoformat(),
            "version": 2,
        }
        body = {"query": PG_M1, "operationName": "M1", "variables": {"id": "$ID", "patch": patch}}
        return Request(body, world.m1.graphile_token, ids=world.m1_pool, once=True)

    def page(self, data: dict[str, Any]) -> tuple[list[str], str | None]:
        leads = data["allLeads"]
        ids = [e["node"]["rowId"] for e in leads["edges"]]
        info = leads["pageInfo"]
        return ids, info["endCursor"] if info["hasNextPage"] else None

    def detail(self, data: dict[str, Any]) -> tuple[str | None, list[str]]:
        lead = data["leadByRowId"]
        if lead is None:
            return None, []
        return lead["rowId"], [h["rowId"] for h in lead["leadHistoriesByLeadId"]["nodes"]]

    def accepted(self, data: dict[str, Any]) -> tuple[str | None, str | None]:
        lead = data["updateLeadByRowId"]["lead"]
        return (lead["rowId"], lead["stage"]) if lead else (None, None)


def all_peers() -> list[Peer]:
    return [
        PartnerLeads("A", "partner-leads"),
        PostGraphile("B", "PostGraphile v5"),
        Raw("C", "raw ceiling"),
    ]


# --- the check before timing --------------------------------------------------------------------


def check_same_answers(world: World, peers: list[Peer]) -> list[str]:
    """Every peer returns the same lead ids for Q1, Q2 (page 2) and Q3's lead (with the same
    history entries) and the same C1 counts (where it runs C1), and M1 accepts a lead; raises
    SystemExit if not. Returns warnings: where the raw ceiling's JSON differs from
    partner-leads' (it should not)."""
    answers: dict[str, dict[str, Any]] = {}
    q3_id = world.q3_ids[0]
    for peer in peers:
        got: dict[str, Any] = {}
        for op in ("Q1", "Q2"):
            request = peer.requests[op]
            data = _data(peer.name, op, post(peer.port, request.body, request.token))
            got[op] = peer.page(data)[0]
            got[op + "_json"] = data
        request = peer.requests["Q3"]
        data = _data(peer.name, "Q3", post(peer.port, request.with_id(q3_id), request.token))
        got["Q3"] = peer.detail(data)
        got["Q3_json"] = data
        if "C1" in peer.requests:
            request = peer.requests["C1"]
            got["C1_json"] = _data(peer.name, "C1", post(peer.port, request.body, request.token))
        answers[peer.name] = got
    reference = peers[0].name
    problems = []
    for peer in peers[1:]:
        for op in ("Q1", "Q2", "Q3"):
            if answers[peer.name][op] != answers[reference][op]:
                problems.append(
                    f"{op}: {peer.name} answered {answers[peer.name][op]!r:.300}\n"
                    f"    but {reference} answered {answers[reference][op]!r:.300}"
                )
    for op in ("Q1", "Q2"):
        if len(answers[reference][op]) != PAGE:
            problems.append(f"{op}: {len(answers[reference][op])} leads, not {PAGE}")
    counts = {name: got["C1_json"] for name, got in answers.items() if "C1_json" in got}
    if len({repr(c) for c in counts.values()}) > 1:
        problems.append(f"C1: the counts differ: {counts!r:.600}")
    if problems:
        raise SystemExit(
            "the peers disagree, so their timings would not compare:\n" + "\n".join(problems)
        )
    warnings = []
    raw = next((p for p in peers if isinstance(p, Raw)), None)
    if raw is not None:
        for op in ("Q1", "Q2", "Q3"):
            mine, theirs = answers[raw.name][op + "_json"], answers[reference][op + "_json"]
            if mine != theirs:
                where = _diff(mine, theirs)
                warnings.append(
                    f"{op}: the raw ceiling's JSON differs from partner-leads' ({where})"
                )
    # M1: each peer accepts one pool lead (they are put back before the timed runs).
    for index, peer in enumerate(peers):
        request = peer.requests["M1"]
        lead_id = world.m1_pool[-1 - index]
        data = _data(peer.name, "M1", post(peer.port, request.with_id(lead_id), request.token))
        if peer.accepted(data) != (lead_id, "ACCEPTED"):
            raise SystemExit(f"{peer.name} M1 did not accept {lead_id}: {json.dumps(data)[:500]}")
    return warnings


def _diff(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                return _diff(a.get(key), b.get(key), f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _diff(x, y, f"{path}[{i}]")
    return f"at {path or '.'}: {a!r:.120} vs {b!r:.120}"
