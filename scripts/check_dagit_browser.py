"""Dagit as a user sees it: start `dagster dev` on an rxt5 home, open its pages in headless Chromium, check their text
and save screenshots.

    RXT5_HOME=/tmp/qs bash scripts/setup_rust_elixir_t5_training.sh     # the quick start's database (once)
    .venv/bin/python scripts/check_dagit_browser.py --home /tmp/qs --out /tmp/dagit-shots
    .venv/bin/python scripts/check_dagit_browser.py --url http://127.0.0.1:3000 --out /tmp/dagit-shots   # running

Pages (each: navigate, wait until every expected string is in the page's text, save `<name>.png`):

* `asset-graph` — the global asset lineage: every asset of the Definitions and every group;
* `asset-preprocessed_chunks`, `asset-lora_adapter`, `asset-evaluation_metrics` — an asset's page: its
  description and metadata (counts that chain from asset to asset, the loss curve, the gate's table);
* `asset-…-plots` — the numeric metadata plotted over materializations;
* `run` — the newest finished run that trained (a sensor's retrain once there is one, else the quick start's): its
  steps and the run log;
* `run-stderr` — that run's captured stderr ("View stdout / stderr"): present, not "No log file available";
* `sensor` — new_code_chunks_sensor with its ticks (waits for the daemon's first tick) and its target job;
  `sensor-tick` — the newest tick opened: its skip reason; `sensor-runs` — the sensor's Runs tab, the retrains it
  launched (when it launched any);
* `checks-training_dataset`, `checks-evaluation_metrics` — the asset checks with their last results.

Before the browser, GraphQL confirms what a picture cannot prove (base_model has no upstream; the run's compute log
has content). Chromium: `--chromium` (default /usr/bin/chromium; Debian: `apt-get install chromium`), driven over
the DevTools protocol with the `websockets` package (a dependency of dagster-webserver's uvicorn). Everything the
script starts (dagster dev and its children, Chromium) is stopped by process group when it ends; the exit status is
1 when a check failed. Not part of the test suite (CI has no browser): the suite's GraphQL test
(rxt5_assets_tests/test_definitions.py) checks the same graph without one.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
LOCATION, REPOSITORY = "rxt5", "__repository__"  # workspace.yaml's location; a Definitions object's repository
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--mute-audio", "--remote-debugging-port=0", "--remote-allow-origins=*"]
ABSENT = ("No log file available", "Select a step to view", "Unexpected GraphQL error", "Something went wrong")
NUX = "Join the Dagster community"


@dataclass
class Outcome:
    name: str
    url: str
    ok: bool
    missing: list[str] = field(default_factory=list)
    unwanted: list[str] = field(default_factory=list)
    screenshot: str | None = None
    note: str = ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen | None, grace: float = 30) -> None:
    """SIGTERM the process group this script started (dagster dev's webserver, daemon and code server; Chromium and
    its renderers), then SIGKILL what is left."""
    if process is None or process.poll() is not None and not _group_alive(process.pid):
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _group_alive(process.pid):
        process.poll()
        time.sleep(0.5)
    if _group_alive(process.pid):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def shown(expected: str, text: str) -> bool:
    """`expected` is on the page, whole or as Dagit middle-truncates a long name in the asset graph
    (`preprocess…_chunks`)."""
    if expected in text:
        return True
    return any("…" in line and expected.startswith(line.split("…")[0]) and expected.endswith(line.split("…")[-1])
               and len(line.split("…")[0]) >= 5 for line in text.splitlines())


class Dagit:
    def __init__(self, base: str):
        self.base = base

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        request = urllib.request.Request(f"{self.base}/graphql", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"query": query, "variables": variables or {}}).encode())
        answer = json.loads(urllib.request.urlopen(request, timeout=60).read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def wait_ready(self, server: subprocess.Popen | None, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server is not None and server.poll() is not None:
                raise RuntimeError(f"dagster dev exited with {server.returncode}")
            try:
                data = self.graphql("{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }")
                if data["repositoriesOrError"].get("nodes"):
                    return
            except (OSError, RuntimeError, ValueError):
                pass
            time.sleep(2)
        raise RuntimeError(f"Dagit did not answer within {timeout:.0f} s")


class Browser:
    """Headless Chromium over the DevTools protocol: one page, navigate, read text, screenshot."""

    def __init__(self, chromium: str, profile: Path, log: Path, width: int, height: int):
        self.process = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                         f"--window-size={width},{height}", "about:blank"],
                                        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
        port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Chromium did not start (see {log})")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        targets = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(t for t in targets if t["type"] == "page")
        from websockets.sync.client import connect

        self._connection = connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=30)
        self.ws = self._connection.__enter__()
        self.next_id = 0
        self.call("Page.enable")
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def call(self, method: str, params: dict | None = None, timeout: float = 60) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(deadline - time.monotonic(), 0.1)))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def text(self) -> str:
        result = self.call("Runtime.evaluate", {"expression": "document.body ? document.body.innerText : ''",
                                                "returnByValue": True})
        return result.get("result", {}).get("value") or ""

    def click(self, label: str) -> bool:
        """Click the first button (else link) whose text is `label` (what a user clicks); False if there is none."""
        script = f"""(() => {{
            const named = sel => [...document.querySelectorAll(sel)]
                .filter(e => e.innerText && e.innerText.trim() === {json.dumps(label)});
            const buttons = named('button, [role=button]');  // a tab or toggle before a link of the same name
            const hits = buttons.length ? buttons : named('a');
            if (!hits.length) return false;
            hits[0].click();
            return true;
        }})()"""
        return bool(self.call("Runtime.evaluate", {"expression": script, "returnByValue": True})
                    .get("result", {}).get("value"))

    def press_alt(self, code: str, key: str) -> None:
        """A keyboard shortcut such as Dagit's Alt+E (expand every group of the asset graph)."""
        for kind in ("keyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", {"type": kind, "modifiers": 1, "code": code, "key": key,
                                                 "windowsVirtualKeyCode": ord(key.upper())})

    def wait_for(self, expect: list[str], timeout: float, gone: tuple[str, ...] = ()) -> tuple[str, list[str]]:
        """Wait until every `expect` string is on the page and no `gone` one is; returns the text and what is
        missing (a `gone` string still there counts as missing: "not <string>")."""
        deadline, text = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            text = self.text()
            if NUX in text:  # Dagit's first-visit "Join the Dagster community" dialog covers the page: skip it
                self.click("Skip")
                time.sleep(1)
                continue
            if all(shown(s, text) for s in expect) and not any(s in text for s in gone):
                time.sleep(1.5)  # let charts and the graph's layout settle before the picture
                return self.text(), []
            time.sleep(1)
        return text, [s for s in expect if not shown(s, text)] + [f"not {s}" for s in gone if s in text]

    def open(self, url: str, expect: list[str], timeout: float) -> tuple[str, list[str]]:
        """Navigate and wait until every expected string is on the page (Dagit renders after its queries return);
        returns the last text and what is still missing."""
        self.call("Page.navigate", {"url": url})
        return self.wait_for(expect, timeout)

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self._connection.__exit__(None, None, None)
        finally:
            stop_group(self.process, grace=10)


GRAPH_QUERY = """{
  assetNodes { assetKey { path } groupName description dependencyKeys { path } }
  runsOrError(limit: 30) {
    ... on Runs { results { runId status jobName assetSelection { path } tags { key value } } } }
}"""
LOGS_QUERY = """query($runId: ID!) { logsForRun(runId: $runId, limit: 20000) {
  ... on EventConnection { events { __typename ... on LogsCapturedEvent { fileKey stepKeys } } } } }"""
CAPTURED_QUERY = """query($key: [String!]!) { capturedLogs(logKey: $key) { stdout stderr } }"""
SENSOR_QUERY = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { name sensorState { status ticks(limit: 100) { status skipReason runIds } } } } }"""


def pick_run(runs: list[dict]) -> dict:
    """The newest finished run that trained (the quick start's whole-graph run, or a sensor's retrain), else the
    newest run."""
    if not runs:
        raise RuntimeError("no run in this instance: run the quick start on this home first")
    for run in runs:
        assets = {"/".join(a["path"]) for a in run.get("assetSelection") or []}
        trained = "lora_adapter" in assets or run["jobName"] == "retrain_job"
        if trained and run["status"] in ("SUCCESS", "FAILURE"):
            return run
    return runs[0]


def wait_for_tick(dagit: Dagit, sensor: str, timeout: float) -> list[dict]:
    selector = {"repositoryName": REPOSITORY, "repositoryLocationName": LOCATION, "sensorName": sensor}
    deadline, ticks = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        state = dagit.graphql(SENSOR_QUERY, {"selector": selector})["sensorOrError"].get("sensorState") or {}
        ticks = [t for t in state.get("ticks", []) if t["status"] in ("SKIPPED", "SUCCESS", "FAILURE")]
        if ticks:
            return ticks
        time.sleep(3)
    return ticks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, help="the RXT5_HOME to open (the quick start's)")
    parser.add_argument("--url", help="check this running Dagit (e.g. http://127.0.0.1:3000) instead of starting "
                                      "`dagster dev` (a second daemon on one instance would tick every sensor twice)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the screenshots and logs")
    parser.add_argument("--port", type=int, help="Dagit's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--size", default="1600x1000", help="browser window, WIDTHxHEIGHT")
    parser.add_argument("--page-timeout", type=float, default=90, help="seconds a page may take to show its text")
    parser.add_argument("--tick-timeout", type=float, default=180, help="seconds to wait for the sensor's first tick")
    args = parser.parse_args()
    if args.url is None and args.home is None:
        parser.error("give --home (start dagster dev on it) or --url (a running Dagit)")
    if args.url is None and not (args.home / "pgdata").is_dir() and not os.environ.get("RXT5_DATABASE_URL"):
        print(f"check_dagit_browser: {args.home} has no embedded database: run the quick start on it first",
              file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    width, height = (int(v) for v in args.size.split("x"))
    port = args.port or free_port()
    base = args.url.rstrip("/") if args.url else f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # the project's dagster.yaml, as in the README
    if args.home is not None:
        env.update(RXT5_HOME=str(args.home.resolve()), PYTHONPATH=str(PROJECT), HF_HUB_OFFLINE="1")
    dagster = Path(sys.executable).parent / "dagster"
    outcomes: list[Outcome] = []
    server = browser = None
    profile = Path(tempfile.mkdtemp(prefix="rxt5-chromium-"))
    started = time.monotonic()
    try:
        if args.url is None:
            server = subprocess.Popen([str(dagster), "dev", "-h", "127.0.0.1", "-p", str(port)], cwd=PROJECT,
                                      env=env, stdout=(args.out / "dagster-dev.log").open("wb"),
                                      stderr=subprocess.STDOUT, start_new_session=True)
        dagit = Dagit(base)
        dagit.wait_ready(server, timeout=240)
        print(f"Dagit up at {base} after {time.monotonic() - started:.0f} s")

        data = dagit.graphql(GRAPH_QUERY)
        nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
        groups = sorted({n["groupName"] for n in nodes.values()})
        base_upstream = [d["path"] for d in nodes["base_model"]["dependencyKeys"]]
        outcomes.append(Outcome("graphql: base_model is a root", f"{base}/graphql", not base_upstream,
                                note=f"upstream {base_upstream}; {len(nodes)} assets, groups {groups}"))
        undescribed = sorted(k for k, n in nodes.items() if not n["description"])
        outcomes.append(Outcome("graphql: every asset described", f"{base}/graphql", not undescribed,
                                missing=undescribed))
        run = pick_run(data["runsOrError"]["results"])
        events = dagit.graphql(LOGS_QUERY, {"runId": run["runId"]})["logsForRun"]["events"]
        captures = [e for e in events if e["__typename"] == "LogsCapturedEvent"]
        stderr_chars, file_key = 0, captures[0]["fileKey"] if captures else None
        for capture in captures:
            logs = dagit.graphql(CAPTURED_QUERY, {"key": [run["runId"], "compute_logs", capture["fileKey"]]})
            chars = len((logs["capturedLogs"] or {}).get("stderr") or "")
            if chars > stderr_chars:
                stderr_chars, file_key = chars, capture["fileKey"]
        outcomes.append(Outcome("graphql: the run's compute logs have content", f"{base}/graphql", stderr_chars > 0,
                                note=f"run {run['runId'][:8]} ({run['status']}): {len(captures)} capture(s), "
                                     f"stderr {stderr_chars} chars"))

        browser = Browser(args.chromium, profile, args.out / "chromium.log", width, height)
        ticks = wait_for_tick(dagit, "new_code_chunks_sensor", args.tick_timeout)
        tick_text = (ticks[0].get("skipReason") or "")[:40] if ticks else "(no tick)"
        tick_result = f"{len(ticks[0]['runIds'])} runs requested" if ticks else "(no tick)"
        sensor_runs = [r for r in data["runsOrError"]["results"]
                       if any(t["key"] == "dagster/sensor_name" and t["value"] == "new_code_chunks_sensor"
                              for t in r.get("tags") or [])]
        run_path = f"/runs/{run['runId']}"
        pages = [
            ("asset-graph", "/asset-groups", [*nodes, *groups]),
            ("asset-preprocessed_chunks", "/assets/preprocessed_chunks",
             ["parsed once with tree-sitter", "rows_in", "test_chunks_kept_aside", "analyses_from_cache"]),
            ("asset-lora_adapter", "/assets/lora_adapter", ["LoRA", "loss_curve", "adapter_path"]),
            ("asset-evaluation_metrics", "/assets/evaluation_metrics", ["evaluation_id", "candidate"]),
            ("asset-lora_adapter-plots", "/assets/lora_adapter", ["base_eval_loss", "eval_loss", "global_step"]),
            ("run", run_path, ["lora_adapter", "training_dataset", "base_model"]),
            ("run-stderr", f"{run_path}?logType=stderr&logFileKey={urllib.parse.quote(file_key or '')}",
             ["lora_adapter", "eval_loss"]),
            ("sensor", f"/locations/{REPOSITORY}@{LOCATION}/sensors/new_code_chunks_sensor",
             ["new_code_chunks_sensor", "retrain_job", tick_result]),
            ("checks-training_dataset", "/assets/training_dataset?view=checks",
             ["no_file_in_both_splits", "each_requested_language_present"]),
            ("checks-evaluation_metrics", "/assets/evaluation_metrics?view=checks",
             ["candidate_not_worse_than_active", "evaluation_results_well_formed", "candidate_beats_template_floor"]),
        ]
        def record(name: str, url: str, text: str, missing: list[str]) -> None:
            shot = args.out / f"{name}.png"
            browser.screenshot(shot)
            (args.out / f"{name}.txt").write_text(text)
            unwanted = [s for s in ABSENT if s in text]
            outcomes.append(Outcome(name, url, not missing and not unwanted, missing, unwanted, str(shot)))

        for name, path, expect in pages:
            if name == "asset-graph":  # groups start collapsed: expand them all, as the graph's settings offer
                browser.open(base + path, groups, args.page_timeout)
                browser.press_alt("KeyE", "e")
                text, missing = browser.wait_for(expect, args.page_timeout)
            elif name.endswith("-plots"):  # the metadata table's "Plots" toggle: numeric metadata over time
                browser.open(base + path, ["Plots"], args.page_timeout)
                # a plot per numeric entry; the table's non-numeric rows (adapter_path) are gone
                text, missing = browser.wait_for(expect, args.page_timeout, gone=("adapter_path",)) if browser.click(
                    "Plots") else (browser.text(), ["a 'Plots' button"])
            else:
                text, missing = browser.open(base + path, expect, args.page_timeout)
            record(name, base + path, text, missing)
            if name == "sensor" and not missing:  # a tick's result opens its skip reason
                clicked = browser.click(tick_result)
                text, missing = browser.wait_for([tick_text] if clicked else [f"a button '{tick_result}'"],
                                                 args.page_timeout)
                record("sensor-tick", base + path, text, missing)
                if sensor_runs:  # the sensor's own Runs tab: the retrains it launched
                    browser.click("Close")
                    expect_runs = [r["runId"][:8] for r in sensor_runs[:3]]
                    text, missing = browser.wait_for(expect_runs, args.page_timeout) if browser.click("Runs") else (
                        browser.text(), ["a 'Runs' tab"])
                    record("sensor-runs", base + path, text, missing)
    except Exception as exc:  # reported as a failed check, after everything is stopped
        outcomes.append(Outcome("the check itself", base, False, note=f"{type(exc).__name__}: {exc}"))
    finally:
        if browser is not None:
            browser.close()
        stop_group(server)
        shutil.rmtree(profile, ignore_errors=True)
        if server is not None:  # the temporary instance folder our dagster dev named in its log, if it is left
            log = (args.out / "dagster-dev.log").read_text(errors="replace")
            for folder in re.findall(r"Using temporary directory (\S+/\.tmp_dagster_home_\w+)", log):
                shutil.rmtree(folder, ignore_errors=True)
    failed = [o for o in outcomes if not o.ok]
    for o in outcomes:
        detail = "; ".join(filter(None, [o.note, f"missing {o.missing}" if o.missing else "",
                                         f"unwanted {o.unwanted}" if o.unwanted else "",
                                         Path(o.screenshot).name if o.screenshot else ""]))
        print(f"{'ok  ' if o.ok else 'FAIL'}  {o.name:32}  {detail}")
    (args.out / "outcomes.json").write_text(json.dumps([o.__dict__ for o in outcomes], indent=2))
    print(f"{len(outcomes) - len(failed)}/{len(outcomes)} checks passed in {time.monotonic() - started:.0f} s; "
          f"screenshots in {args.out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
