"""The user's path through the demo site in a real browser (Debian's Chromium, Playwright):
landing page -> Launch `hpc` -> Keycloak password -> TOTP enrollment -> Slurm spawn form ->
progress page -> JupyterLab -> a notebook cell; then, in the same browser session, landing
page -> Launch `htc` (no login: mellon's session covers the site) -> HTCondor spawn form ->
progress page -> JupyterLab -> the same cell; stop each server; log out.

The flow walks one card at a time (`use(cluster)`): the steps below act on that card's hub,
and each card has its own FlowResult (marks, route, progress, cell output).

Each step runs inside `step()`: a step that fails leaves a screenshot and the page's text
in the artifacts folder and raises StepFailed naming the step, the URL and what the page
said. The test (test_browser_flow.py) and the benchmark (bench/login_to_kernel.py) share
this code; the benchmark turns the per-step screenshots off.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pyotp
from e2e_site import CELL_CODE, CELL_MARKER, DemoSite, HubCluster
from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError

from sitehub.testing.keycloak_login import DIGESTS, totp_secret_from_setup_page
from sitehub.testing.keycloak_login import Page as KeycloakPage

VIEWPORT = {"width": 1280, "height": 860}
# what the test chooses in the spawn form (bob's associations allow these)
SPAWN_CHOICE = {"partition": "debug", "account": "default", "gpu": "any", "runtime": "20"}
# screenshots per card: the hpc names as they always were; the htc card's are numbered after
# the last of the hpc flow (12), though they are taken between 08 and 09
SHOTS = {
    "slurm": {
        "landing": "01-landing",
        "spawn-form": "05-spawn-form",
        "progress": "06-progress",
        "jupyterlab": "07-jupyterlab",
        "notebook": "08-notebook-output",
        "stopped": "09-server-stopped",
        "logged-out": "10-logged-out",
    },
    "htcondor": {
        "landing": "13-htc-landing",
        "spawn-form": "14-htc-spawn-form",
        "progress": "15-htc-progress",
        "jupyterlab": "16-htc-jupyterlab",
        "notebook": "17-htc-notebook-output",
        "stopped": "18-htc-server-stopped",
    },
}
SPAWN_TIMEOUT_S = 300  # a batch job on two shared cores: submit, schedule, start, report
KERNEL_TIMEOUT_S = 180
SUBMITTED = re.compile(r"Submitted batch job (\d+)")
# error texts: Keycloak's alerts and field errors, the hub's spawn and error pages, the
# frontend's error pages (hub unavailable)
ERRORS = (
    ".pf-m-danger, [id^='input-error'], #kc-error-message, .spawn-error-msg, div.error h1, "
    "main.message h1"
)
CELL_OUTPUT = re.compile(re.escape(CELL_MARKER) + r"\|(\S+)\|(\S+)")


def htc_spawn_choice(demo: DemoSite) -> dict[str, str]:
    """The HTCondor form's values: the user's own accounting group (the pool's user map, from
    the inventory), 1 CPU, 1 GB, 15 minutes, no GPU, no image, not locally."""
    groups = demo.htc_groups.get(demo.user)
    if not groups:
        raise ValueError(
            f"the inventory maps {demo.user} to no accounting group of {demo.htc.segment}"
        )
    return {
        "accounting_group": groups[0],
        "cpus": "1",
        "memory": "1",
        "gpu": "none",
        "image": "none",
        "runtime": "15",
    }


class StepFailed(AssertionError):
    """A step of the flow did not reach what it waits for."""


@dataclass
class FlowResult:
    cluster: str = ""  # the card's segment
    marks: dict[str, float] = field(default_factory=dict)  # seconds since Launch was clicked
    route: str = ""  # the hub instance the balancer pinned this browser to
    progress: list[str] = field(default_factory=list)  # the progress page's event log
    progress_job_id: str = ""
    cell_output: str = ""
    cell_job_id: str = ""
    cell_host: str = ""
    notebook_path: str = ""
    screenshots: list[Path] = field(default_factory=list)
    totp_label: str = ""
    # main-frame URLs from the click on Launch to the spawn form
    launch_urls: list[str] = field(default_factory=list)
    groups_offered: list[str] = field(default_factory=list)  # HTCondor form
    started: float | None = None  # monotonic clock at the click on Launch

    @property
    def login_to_kernel(self) -> float:
        return self.marks["kernel_output"]


class BrowserFlow:
    """One browser (a fresh Playwright context: no cookies) walking through the site."""

    def __init__(
        self,
        demo: DemoSite,
        browser: Browser,
        artifacts: Path,
        *,
        screenshots: bool = True,
        prefix: str = "",
    ) -> None:
        self.demo = demo
        self.artifacts = artifacts
        self.screenshots = screenshots
        self.prefix = prefix
        self.context: BrowserContext = browser.new_context(viewport=VIEWPORT, locale="en-US")
        self.context.set_default_timeout(60_000)
        self.context.set_default_navigation_timeout(90_000)
        self.page: Page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console.append(m.text[:300]))
        self.page.on("pageerror", lambda e: self.console.append(f"page error: {e}"[:300]))
        self.navigations: list[str] = []
        self.page.on(
            "framenavigated",
            lambda f: f == self.page.main_frame and self.navigations.append(f.url),
        )
        self.results: dict[str, FlowResult] = {}
        self.current_step = ""
        self.cluster: HubCluster
        self.result: FlowResult
        self.use(demo.hpc)

    def use(self, cluster: HubCluster) -> FlowResult:
        """Walk `cluster`'s card from now on; returns its result (kept across switches)."""
        self.cluster = cluster
        if cluster.segment not in self.results:
            self.results[cluster.segment] = FlowResult(cluster=cluster.segment)
        self.result = self.results[cluster.segment]
        return self.result

    @property
    def screenshots_taken(self) -> list[Path]:
        return [p for r in self.results.values() for p in r.screenshots]

    def shot_name(self, key: str) -> str:
        return SHOTS[self.cluster.scheduler][key]

    def step_name(self, name: str) -> str:
        """Failure dumps of the first card keep their names; other cards' say which card."""
        return name if self.cluster is self.demo.hpc else f"{self.cluster.segment}-{name}"

    # ---- bookkeeping ----------------------------------------------------------------------

    def close(self) -> None:
        with contextlib.suppress(PlaywrightError):
            self.context.close()

    def mark(self, name: str) -> float:
        t0 = self.result.started
        elapsed = time.monotonic() - t0 if t0 is not None else 0.0
        self.result.marks[name] = round(elapsed, 3)
        return elapsed

    def shot(self, name: str, page: Page | None = None) -> Path | None:
        if not self.screenshots:
            return None
        path = self.artifacts / f"{self.prefix}{name}.png"
        (page or self.page).screenshot(path=str(path), full_page=True)
        self.result.screenshots.append(path)
        return path

    def page_text(self, page: Page | None = None, limit: int = 4000) -> str:
        page = page or self.page
        try:
            text = page.locator("body").inner_text(timeout=5_000)
        except PlaywrightError as exc:
            return f"(no page text: {exc.message.splitlines()[0]})"
        return " ".join(text.split())[:limit]

    def dump(self, name: str, page: Page | None = None) -> tuple[Path, Path]:
        """Screenshot and text of the page as it is now (also when screenshots are off)."""
        page = page or self.page
        png = self.artifacts / f"{self.prefix}{name}.png"
        txt = self.artifacts / f"{self.prefix}{name}.txt"
        with contextlib.suppress(PlaywrightError):
            page.screenshot(path=str(png), full_page=True)
        lines = [
            f"step: {self.current_step}",
            f"url: {page.url}",
            f"marks: {self.result.marks}",
            f"progress events: {self.result.progress}",
            f"browser console errors: {self.console[-20:]}",
            "page text:",
            self.page_text(page, limit=20_000),
        ]
        txt.write_text("\n".join(lines) + "\n")
        return png, txt

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        self.current_step = name
        try:
            yield
        except Exception as exc:
            png, txt = self.dump(f"FAILED-{name}")
            raise StepFailed(
                f"step '{name}' failed at {self.page.url}: {type(exc).__name__}: "
                f"{str(exc).strip()[:1500]}\n"
                f"  page says: {self.page_text(limit=800)}\n"
                f"  progress events: {self.result.progress[-5:]}\n"
                f"  console errors: {self.console[-5:]}\n"
                f"  screenshot: {png}\n  page text: {txt}"
            ) from exc

    def wait_for_any(self, selector: str, what: str, timeout: float = 90) -> None:
        """Wait for `selector` on whatever page the browser gets to, failing at once with
        the page's words when it shows an error (Keycloak's alerts and field errors, the
        hub's spawn error) instead of waiting out the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.page.locator(selector).count():
                    return
                said = [t.strip() for t in self.page.locator(ERRORS).all_inner_texts() if t.strip()]
            except PlaywrightError:
                said = []  # the page navigated while we looked
            if said:
                raise AssertionError(f"waiting for {what}, the page says: {said}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {what} after {timeout:.0f} s")
            time.sleep(0.2)

    # ---- the flow ------------------------------------------------------------------------

    def open_landing(self) -> None:
        with self.step("landing"):
            reply = self.page.goto(self.demo.site_url + "/")
            assert reply is not None and reply.status == 200, f"HTTP {reply and reply.status}"
            assert self.page.title() == self.demo.title
            launch = self._launch_link()
            launch.wait_for(state="visible")
            self.shot(self.shot_name("landing"))

    def _launch_link(self):
        card = self.page.locator(f'li.cluster[data-segment="{self.cluster.segment}"]')
        return card.locator("a.launch")

    def launch(self) -> None:
        """Click Launch: the clock of login-to-kernel starts here."""
        with self.step("launch"):
            self.result.started = time.monotonic()
            self._launch_link().click()
            self.page.wait_for_url(lambda url: url.startswith(self.demo.realm_url + "/"))
            self.page.locator("#username").wait_for(state="visible")
            self.mark("keycloak_login_page")
            self.shot("02-keycloak-login")

    def log_in(self, password: str) -> None:
        with self.step("password"):
            self.page.fill("#username", self.demo.user)
            self.page.fill("#password", password)
            self.page.click("#kc-login")
            # the first login of a user without a device: Keycloak's TOTP set-up page
            self.wait_for_any("input[name=totpSecret]", "Keycloak's TOTP set-up page")
            self.mark("totp_setup_page")
            self.shot("03-totp-setup")

    def enroll_totp(self) -> str:
        """Read the key from the page (its manual-entry view, as a person without a camera
        would), compute the code with pyotp, submit. Returns the base32 key."""
        with self.step("totp-enroll"):
            manual = self.page.locator("#mode-manual")
            if manual.count():
                manual.click()
                self.page.locator("#kc-totp-secret-key").wait_for(state="visible")
                self.shot("04-totp-manual-key")
            page = KeycloakPage.parse(self.page.url, 200, self.page.content())
            secret = totp_secret_from_setup_page(page)
            assert secret, "no TOTP key on the set-up page"
            totp = pyotp.TOTP(
                secret,
                digits=self.demo.otp_digits,
                digest=DIGESTS[self.demo.otp_algorithm],
                interval=self.demo.otp_period,
            )
            self.result.totp_label = f"e2e-{int(time.time())}"
            self.page.fill("#totp", totp.now())
            if self.page.locator("#userLabel").count():
                self.page.fill("#userLabel", self.result.totp_label)
            self.page.locator("#saveTOTPBtn, #kc-totp-settings-form [type=submit]").first.click()
            # back through SAML and mellon to the hub: the spawn form
            self.wait_for_any("#sitehub-partition", "the hub's spawn form")
            self.mark("spawn_form")
            return secret

    def _read_route(self) -> None:
        assert self.page.url.startswith(self.cluster.hub_url), self.page.url
        for cookie in self.context.cookies(self.demo.site_url + self.cluster.hub_path):
            if cookie["name"] == "ROUTEID" and cookie["path"] == self.cluster.hub_path:
                self.result.route = cookie["value"].lstrip(".")

    def fill_spawn_form(self, choice: dict[str, str] | None = None) -> None:
        choice = choice or SPAWN_CHOICE
        with self.step("spawn-form"):
            self._read_route()
            page = self.page
            page.select_option("#sitehub-partition", choice["partition"])
            page.select_option("#sitehub-account", choice["account"])
            # QOS: the account's default, as the form preselects it
            page.select_option("#sitehub-gpu", choice["gpu"])
            page.fill("#sitehub-runtime", choice["runtime"])
            self.shot(self.shot_name("spawn-form"))
            page.locator("#spawn_form [type=submit]").click()
            self.mark("spawn_submitted")

    def launch_signed_in(self) -> None:
        """Back on the landing page, Launch this card while signed in: straight to its hub's
        spawn form, without Keycloak (mellon's session covers the whole site)."""
        with self.step(self.step_name("landing")):
            reply = self.page.goto(self.demo.site_url + "/")
            assert reply is not None and reply.status == 200, f"HTTP {reply and reply.status}"
            self._launch_link().wait_for(state="visible")
            self.shot(self.shot_name("landing"))
        with self.step(self.step_name("launch")):
            seen = len(self.navigations)
            self.result.started = time.monotonic()
            self._launch_link().click()
            self.wait_for_any("#sitehub-group, #sitehub-run-local", "the HTCondor spawn form")
            self.mark("spawn_form")
            self.result.launch_urls = self.navigations[seen:]

    def fill_condor_form(self, choice: dict[str, str]) -> None:
        """The HTCondor form: accounting group, CPUs, memory, GPU, image, runtime; not local."""
        with self.step(self.step_name("spawn-form")):
            self._read_route()
            page = self.page
            self.result.groups_offered = page.eval_on_selector_all(
                "#sitehub-group option", "els => els.map(e => e.value)"
            )
            # fail now with the form's own words rather than time out selecting a missing group
            assert choice["accounting_group"] in self.result.groups_offered, (
                f"the form offers groups {self.result.groups_offered}: {self.page_text(limit=600)}"
            )
            page.select_option("#sitehub-group", choice["accounting_group"])
            page.fill("#sitehub-cpus", choice["cpus"])
            page.fill("#sitehub-memory", choice["memory"])
            page.select_option("#sitehub-gpu", choice["gpu"])
            page.select_option("#sitehub-image", choice["image"])
            page.fill("#sitehub-runtime", choice["runtime"])
            local = page.locator("#sitehub-run-local")
            if local.count():
                local.set_checked(False)  # the point is a pool job, not the hub host
            self.shot(self.shot_name("spawn-form"))
            page.locator("#spawn_form [type=submit]").click()
            self.mark("spawn_submitted")

    def watch_progress(self) -> None:
        """Follow the progress page until the browser is sent to the server; keeps the event
        log, a screenshot per new event, and the job id the hub reported."""
        with self.step(self.step_name("progress")):
            user_prefix = f"{self.cluster.hub_url}user/{self.demo.user}/"
            deadline = time.monotonic() + SPAWN_TIMEOUT_S
            shots = 0
            while not self.page.url.startswith(user_prefix):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no server after {SPAWN_TIMEOUT_S} s")
                try:
                    self._read_progress()
                    if len(self.result.progress) > shots and self.screenshots:
                        shots = len(self.result.progress)
                        self.shot(f"{self.shot_name('progress')}-{shots:02d}")
                    error = self.page.locator(".spawn-error-msg, #progress-bar.bg-danger")
                    if error.count():
                        raise AssertionError(f"spawn failed: {self.result.progress[-3:]}")
                except PlaywrightError:
                    pass  # the page navigated while we read it
                time.sleep(0.25)
            self.mark("server_redirect")
            for event in self.result.progress:
                found = SUBMITTED.search(event)
                if found:
                    self.result.progress_job_id = found.group(1)

    def _read_progress(self) -> None:
        if "/spawn-pending/" not in self.page.url:
            return
        events = self.page.eval_on_selector_all(
            "#progress-log .progress-log-event", "els => els.map(e => e.textContent.trim())"
        )
        if len(events) > len(self.result.progress):
            self.result.progress = events

    def wait_for_lab(self) -> None:
        with self.step(self.step_name("jupyterlab")):
            self.page.locator("#jp-main-dock-panel").wait_for(state="visible", timeout=180_000)
            self._kernel_card().wait_for(state="visible", timeout=120_000)
            self.mark("lab_loaded")
            self.shot(self.shot_name("jupyterlab"))

    def _kernel_card(self):
        return (
            self.page.locator('.jp-LauncherCard[data-category="Notebook"]')
            .filter(has_text=self.cluster.kernel_display_name)
            .first
        )

    def run_cell(self) -> None:
        """New notebook with the cluster's first kernel; run the cell; read its output."""
        with self.step(self.step_name("notebook")):
            self._kernel_card().click()
            editor = self.page.locator(".jp-NotebookPanel .jp-Cell .cm-content").first
            editor.wait_for(state="visible")
            self.mark("notebook_open")
            editor.click()
            # inserted as text, not typed: the editor would auto-close brackets and quotes
            self.page.keyboard.insert_text(CELL_CODE)
            # a run requested while the kernel is still connecting was seen to be dropped:
            # wait until the status bar reports the kernel idle
            self.page.get_by_text(re.compile(r"\|\s*Idle")).first.wait_for(
                state="visible", timeout=KERNEL_TIMEOUT_S * 1000
            )
            editor.click()
            self.page.keyboard.press("Shift+Enter")
            output = self.page.locator(".jp-NotebookPanel .jp-OutputArea-output").filter(
                has_text=f"{CELL_MARKER}|"
            )
            output.first.wait_for(state="visible", timeout=KERNEL_TIMEOUT_S * 1000)
            self.mark("kernel_output")
            text = output.first.inner_text().strip()
            self.result.cell_output = text
            found = CELL_OUTPUT.search(text)
            assert found, f"cell output not understood: {text!r}"
            self.result.cell_job_id, self.result.cell_host = found.groups()
            self.result.notebook_path = self._notebook_path()
            self.shot(self.shot_name("notebook"))

    def _notebook_path(self) -> str:
        path = urlsplit(self.page.url).path
        if "/lab/tree/" in path:
            return unquote(path.split("/lab/tree/", 1)[1])
        label = self.page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel").first
        return label.inner_text().strip() if label.count() else ""

    def delete_notebook(self) -> int | None:
        """Remove the notebook the test created (the server's contents API, with the
        browser's own cookies and XSRF token), so re-runs leave the home directory as is."""
        if not self.result.notebook_path:
            return None
        with self.step(self.step_name("delete-notebook")):
            server = f"{self.cluster.hub_path}user/{self.demo.user}/"
            xsrf = next(
                (
                    c["value"]
                    for c in self.context.cookies(self.demo.site_url + server)
                    if c["name"] == "_xsrf"
                ),
                "",
            )
            # fetch() inside the page: the browser's own TLS trust (the pinned site CA key);
            # Playwright's request API would verify against Node's CA store instead
            return self.page.evaluate(
                """async ([url, xsrf]) => (await fetch(url, {method: "DELETE",
                    headers: {"X-XSRFToken": xsrf}, credentials: "same-origin"})).status""",
                [f"{self.demo.site_url}{server}api/contents/{self.result.notebook_path}", xsrf],
            )

    def stop_server(self) -> None:
        """The hub's home page, "Stop My Server": the batch job is cancelled/removed."""
        with self.step(self.step_name("stop-server")):
            self.page.goto(f"{self.cluster.hub_url}hub/home")
            stop = self.page.locator("#stop")
            stop.wait_for(state="visible")
            # the button is in the HTML, its click handler comes later from home.js (loaded
            # by require.js, after the load event when the cache is cold, as on a freshly
            # converged demo): a click before that does nothing and the server keeps running.
            # home.js sets this flag once its handlers are bound.
            self.page.wait_for_function("window._jupyterhub_page_loaded === true")
            stop.click()
            stop.wait_for(state="hidden", timeout=120_000)
            self.shot(self.shot_name("stopped"))

    def log_out(self) -> None:
        """The hub's Logout: hub session, then the frontend's logout (mellon), then Keycloak
        (SAML single logout), ending on the landing page."""
        with self.step(self.step_name("logout")):
            if not self.page.url.startswith(f"{self.cluster.hub_url}hub/"):
                self.page.goto(f"{self.cluster.hub_url}hub/home")
            self.page.locator("#logout").click()
            self.page.wait_for_url(self.demo.site_url + "/", timeout=90_000)
            self._launch_link().wait_for(state="visible")
            self.shot(self.shot_name("logged-out"))

    def password_asked(self, page: Page | None = None, name: str = "") -> bool:
        """Open the cluster's hub: True when Keycloak answers with its password form (no
        session anywhere), False when the browser gets to the hub without one."""
        page = page or self.page
        with self.step(f"revisit{'-' + name if name else ''}"):
            page.goto(self.cluster.hub_url)
            page.locator(
                "#password, #jp-main-dock-panel, #sitehub-partition, #sitehub-group, #start"
            ).first.wait_for(state="attached", timeout=90_000)
            asked = page.url.startswith(self.demo.realm_url) and page.locator("#password").count()
            if name:
                self.shot(name, page)
            return bool(asked)

    def run_to_kernel(self, password: str) -> FlowResult:
        """Landing page to a cell's output on the hpc card: what the benchmark times."""
        self.use(self.demo.hpc)
        self.open_landing()
        self.launch()
        self.log_in(password)
        self.enroll_totp()
        self.fill_spawn_form()
        self.watch_progress()
        self.wait_for_lab()
        self.run_cell()
        return self.result

    def run_to_htc_kernel(self, choice: dict[str, str]) -> FlowResult:
        """Signed in already: the htc card's Launch to a cell's output in the pool job."""
        self.use(self.demo.htc)
        self.launch_signed_in()
        self.fill_condor_form(choice)
        self.watch_progress()
        self.wait_for_lab()
        self.run_cell()
        return self.result
