"""Which components a role runs, their command lines and how queues join them.

    local:  collect, scan ─> events ─> analyze ─> alerts ─> logs, respond, mail, forward
    agent:  collect, scan, agentless ─> events ─> send ─> commands ─> respond ─> (back to send)
    server: receive, collect, scan ─> events ─> analyze ─> alerts ─> logs, respond, mail, forward
            respond ─> routes ─> receive (delivered to agents)
    server with a bus (``bus = "nats://…"``, docs/scale-out.md):
            receive ═> EVENTS ═> analyze members ═> ALERTS ═> logs, respond, mail, forward
            respond ─> routes ─> receive (delivered to agents)

Queues are named after what flows in them. Outputs of sinks (notices, active-response
results) flow back into analyze (or send), as OSSEC analyses its own active-responses.log.
What a config names replaces the defaults: responses, rootcheck, agentless, mail and
forwarding run only when configured.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hidsctl.errors import ConfigError, SourceLocation
from hidsctl.supervise.component import ComponentSpec

ROLES = ("local", "agent", "server")

@dataclass
class SuperviseSettings:
    role: str = "local"
    user: str | None = None  # unprivileged user for receive, analyze and the outputs
    queue_max_bytes: int = 512 << 20  # per queue; the oldest records go past it
    scan_every: str = "12h"
    rootcheck: bool = False
    rootcheck_every: str = "12h"
    disconnect_time: int | None = None
    bus: str | None = None  # nats://HOST:PORT[,HOST:PORT]: the server role scales out on it
    analyze_members: int = 1  # with bus: analysis group members this server runs

    def check(self) -> None:
        if self.bus is not None:
            bus_address(self.bus, "EVENTS")  # a usage error now
            if self.role != "server":
                raise ConfigError("bus is for the server role only")
        if not 0 <= self.analyze_members <= 64:
            raise ConfigError("analyze-members must be 0..64")


EVENTS_STREAM, ALERTS_STREAM = "EVENTS", "ALERTS"


def bus_address(bus: str, stream: str) -> str:
    """``bus`` (servers only) with the stream appended; a usage error when malformed."""
    from hidsctl.bus.address import parse
    from hidsctl.errors import UsageError

    if "/" in bus.removeprefix("nats://"):
        raise UsageError(f"--bus {bus!r}: name the servers only, nats://HOST:PORT[,HOST:PORT]; "
                         f"the streams are {EVENTS_STREAM} and {ALERTS_STREAM}")
    return str(parse(f"{bus}/{stream}", "--bus"))


@dataclass
class Topology:
    role: str
    components: list[ComponentSpec]
    queues: list[str]
    fifos: dict[str, str] = field(default_factory=dict)  # fifo name -> queue it feeds
    # With a bus: (component, stream address, durable consumer, or "" for the analysis
    # group's members), whose backlog `hidsctl status` shows.
    bus_consumers: list[tuple[str, str, str]] = field(default_factory=list)


def hidsctl_argv() -> list[str]:
    """How to run hidsctl itself: the same interpreter, so a venv or checkout is kept."""
    return [sys.executable, "-m", "hidsctl"]


def build(settings: SuperviseSettings, config: dict[str, Any], config_path: Path | None,
          state: Path) -> Topology:
    if settings.role not in ROLES:
        raise ConfigError(f"unknown role {settings.role!r}; use one of {', '.join(ROLES)}",
                          SourceLocation(str(config_path or "command line"), detail="role"))
    settings.check()
    common = ["--config", str(config_path)] if config_path else []
    maker = _Builder(settings, config, common, state)
    if settings.bus:
        return maker.bus_server(settings.bus)
    return {"local": maker.local, "agent": maker.agent, "server": maker.server}[settings.role]()


class _Builder:
    def __init__(self, settings: SuperviseSettings, config: dict[str, Any], common: list[str],
                 state: Path):
        self.settings = settings
        self.config = config
        self.common = common
        self.state = state

    def _cmd(self, *args: str, state_subdir: str | None = None) -> list[str]:
        state = self.state / state_subdir if state_subdir else self.state
        return hidsctl_argv() + list(args) + self.common + ["--state-dir", str(state)]

    def has(self, table: str, key: str | None = None) -> bool:
        value = self.config.get(table)
        if not isinstance(value, dict):
            return False
        if key is None:
            return bool(value)
        return bool(value.get(key) or value.get(key.replace("_", "-")))

    # --- components ---------------------------------------------------------------------

    # collect and scan watch the system logs and OSSEC's usual directories unless the
    # config names others.
    def collect(self) -> ComponentSpec:
        return ComponentSpec("collect", self._cmd("collect"), output="events",
                             privileged=True, source=True, dedupe=True)

    def scan(self) -> ComponentSpec:
        return ComponentSpec("scan", self._cmd("scan", "--realtime", "--every",
                                               self.settings.scan_every),
                             output="events", privileged=True, source=True)

    def rootcheck(self) -> ComponentSpec:
        return ComponentSpec("rootcheck", self._cmd("scan", "--rootcheck", "--every",
                                                    self.settings.rootcheck_every,
                                                    state_subdir="rootcheck"),
                             output="events", privileged=True, source=True)

    def analyze(self, inputs: list[str]) -> ComponentSpec:
        alerts = self.config.get("alerts", {})
        alerts = alerts if isinstance(alerts, dict) else {}
        return ComponentSpec("analyze", self._cmd("analyze", state_subdir="analyze"),
                             inputs=inputs, output="alerts", reloads_on_sighup=True,
                             alerts_json=Path(alerts["json"]) if alerts.get("json") else None,
                             alerts_log=Path(alerts["log"]) if alerts.get("log") else None)

    def alert_files(self) -> ComponentSpec:
        # The logs root (alerts go to DIR/alerts/YYYY/Mon/): [logs] dir, else [alerts] dir.
        logs, alerts = self.config.get("logs", {}), self.config.get("alerts", {})
        directory = (logs.get("dir") if isinstance(logs, dict) else None) or \
            (alerts.get("dir") if isinstance(alerts, dict) else None)
        directory = str(directory or self.state / "logs")
        return ComponentSpec("logs", self._cmd("logs", "write", "--dir", directory,
                                               state_subdir="logs"),
                             inputs=["alerts"], output="feedback", keep=("notice",))

    def respond(self, route: bool) -> ComponentSpec:
        extra = ["--route", str(self.state / "queues" / "routes.fifo")] if route else []
        return ComponentSpec("respond", self._cmd("respond", *extra), inputs=["alerts"],
                             output="feedback", keep=("ar_result", "notice"), privileged=True)

    def output(self, name: str) -> ComponentSpec:
        return ComponentSpec(name, self._cmd(name, state_subdir=name), inputs=["alerts"],
                             output="feedback", keep=("notice",))

    def outputs(self, route: bool = False) -> list[ComponentSpec]:
        specs = [self.alert_files()]
        if self.has("respond", "response"):
            specs.append(self.respond(route))
        for name in ("mail", "forward"):
            if self.has(name):
                specs.append(self.output(name))
        return specs

    # --- roles ------------------------------------------------------------------------

    def sources(self) -> list[ComponentSpec]:
        specs = [self.collect(), self.scan()]
        if self.settings.rootcheck:
            specs.append(self.rootcheck())
        return specs

    def local(self) -> Topology:
        specs = self.sources() + [self.analyze(["events", "feedback"])] + self.outputs()
        return Topology("local", specs, ["events", "alerts", "feedback"])

    def server(self) -> Topology:
        receive = ComponentSpec("receive", self._cmd("receive", "--control", "-",
                                                     state_subdir="receive"),
                                inputs=["routes"], output="events", source=True)
        specs = [receive] + self.sources() + [self.analyze(["events", "feedback"])] + \
            self.outputs(route=True)
        return Topology("server", specs, ["events", "alerts", "feedback", "routes"],
                        fifos={"routes.fifo": "routes"})

    def bus_server(self, bus: str) -> Topology:
        """receive publishes to EVENTS; analyze members read it as one group and publish
        to ALERTS; each output reads ALERTS through its own durable consumer. Outputs'
        notices stay on their stdout: no analyze of this server reads them."""
        events, alerts = bus_address(bus, EVENTS_STREAM), bus_address(bus, ALERTS_STREAM)
        specs = [ComponentSpec("receive", self._cmd("receive", "--control", "-", "--to", events,
                                                     state_subdir="receive"),
                               inputs=["routes"], source=True)]
        for n in range(1, self.settings.analyze_members + 1):
            name = "analyze" if n == 1 else f"analyze-{n}"
            # A member keeps its correlation state in the bus; its state directory, one
            # for all members and owned by the user they run as, holds the compiled-ruleset
            # cache (without one it would look in that user's home).
            specs.append(ComponentSpec(name, self._cmd(
                "analyze", "--from", events, "--group", "analyze", "--to", alerts,
                state_subdir="analyze"), source=True))
        consumers = [("analyze", events, "")] if self.settings.analyze_members else []
        for spec in self.outputs(route=True):
            group = ["--group" if spec.name == "logs" else "--bus-group", spec.name]
            specs.append(ComponentSpec(spec.name, spec.argv + ["--from", alerts] + group,
                                       privileged=spec.privileged, source=True))
            consumers.append((spec.name, alerts, spec.name))
        return Topology("server", specs, ["routes"], fifos={"routes.fifo": "routes"},
                        bus_consumers=consumers)

    def agent(self) -> Topology:
        specs = self.sources()
        if self.has("agentless", "host"):
            specs.append(ComponentSpec("agentless", self._cmd("agentless"), output="events",
                                       privileged=True, source=True))
        specs.append(ComponentSpec("send", self._cmd("send"), inputs=["events", "feedback"],
                                   output="commands", keep=("ar",), privileged=True))
        specs.append(ComponentSpec("respond", self._cmd("respond"), inputs=["commands"],
                                   output="feedback", keep=("ar_result", "notice"),
                                   privileged=True))
        return Topology("agent", specs, ["events", "commands", "feedback"])
