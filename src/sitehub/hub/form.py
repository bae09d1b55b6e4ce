"""What every spawn options form shares, whichever scheduler it submits to (pure).

The Slurm form (sitehub.hub.options: partition, account, QOS) and the HTCondor form
(sitehub.htcondor.choices: accounting group, CPUs, memory) differ in what narrows what; the
rest is here, once: reading submitted values (form data or REST JSON), "run locally", the
container image, the runtime bounds, and rendering (templates/options_form.html.j2, which
each scheduler's template extends). Submitted values are always checked again on the server,
since the form can be forged and its values end up in a batch script or submit description.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

from .images import NO_IMAGE, ImageChoice

# what a form field may say about a number, by option key
NUMBER_MESSAGES = {
    "runtime": "Runtime must be a whole number of minutes.",
    "cpus": "CPUs must be a whole number.",
    "memory": "Memory (GB) must be a whole number.",
}
LOCAL_ONLY = "This hub runs servers on the hub host; batch options are not accepted."


class OptionsError(ValueError):
    """A submitted choice is not allowed; the message is shown to the user as is."""


@dataclass(frozen=True)
class Top:
    """A form's top-level choice, the one that narrows the others."""

    attribute: str  # the model's list of them ("partitions")
    default_key: str  # the model's attribute naming the preselected one ("default_partition")
    label: str  # for messages ("Partition")


class Offer:
    """What the shared code asks of a scheduler's form model: whether it offers anything,
    and its top-level choices by name (partitions, accounting groups), described by `top`;
    models also carry allow_local, notice and images."""

    top: ClassVar[Top]

    @property
    def offered(self) -> bool:
        return bool(self._top_choices())

    def _top_choices(self) -> list[Any]:
        return getattr(self, self.top.attribute)

    def named(self, name: str) -> Any:
        return next((c for c in self._top_choices() if c.name == name), None)

    def pick(self, opts: Mapping[str, Any], key: str) -> Any:
        """The top-level choice opts[key] names (or the default), or OptionsError."""
        name = opts.get(key) or getattr(self, self.top.default_key)
        choice = self.named(name)
        if choice is None:
            names = listing(c.name for c in self._top_choices())
            raise OptionsError(
                f"{self.top.label} {shown(name)} is not open to you. "
                f"Your {self.top.attribute}: {names}."
            )
        return choice

    def choice_json(self, choice: Any) -> dict[str, Any]:
        """What the form's script needs of one top-level choice to narrow the others."""
        raise NotImplementedError

    def extra_json(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        return {
            self.top.default_key: getattr(self, self.top.default_key),
            "allow_local": self.allow_local,
            self.top.attribute: {c.name: self.choice_json(c) for c in self._top_choices()},
            **self.extra_json(),
        }


@dataclass(frozen=True)
class Choice:
    """A validated spawn request: either local, or a job (the scheduler's JobRequest)."""

    run_local: bool
    job: Any = None


# ---------------------------------------------------------------------------------------
# reading what came back


def one(value: Any) -> Any:
    """Form data arrives as lists of strings; the REST API sends plain JSON values."""
    if isinstance(value, list):
        if len(value) != 1:
            raise OptionsError("each option takes exactly one value")
        return value[0]
    return value


def truthy(value: Any) -> bool:
    value = one(value)
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, str):
        v = value.strip().lower()
        if v in {"1", "true", "on", "yes"}:
            return True
        if v in {"", "0", "false", "off", "no"}:
            return False
    raise OptionsError(f"'run locally' must be true or false, not {value!r}")


def text(key: str, value: Any) -> str:
    value = one(value)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise OptionsError(f"{key} must be text, not {value!r}")
    if any(c in value for c in "\r\n\0"):
        raise OptionsError(f"{key} must be a single line.")
    return value.strip()


def whole(key: str, value: Any) -> int:
    message = NUMBER_MESSAGES.get(key, f"{key} must be a whole number.")
    value = one(value)
    if isinstance(value, bool):
        raise OptionsError(message)
    if isinstance(value, str):
        value = value.strip()
        # isdigit() alone takes '٣' and '²', which int() then refuses or reads oddly
        if not value.isascii() or not value.isdigit() or len(value) > 9:
            raise OptionsError(message)
        value = int(value)
    if not isinstance(value, int):
        raise OptionsError(message)
    return value


def coerce(
    raw: Mapping[str, Any], *, text_keys: Iterable[str], number_keys: Iterable[str]
) -> dict[str, Any]:
    """Form data or API JSON -> user_options (types normalised, unknown keys refused)."""
    text_keys, number_keys = tuple(text_keys), tuple(number_keys)
    unknown = sorted(set(raw) - {"run_local", *text_keys, *number_keys})
    if unknown:
        raise OptionsError(f"Unknown option(s): {', '.join(map(str, unknown))[:200]}.")
    out: dict[str, Any] = {}
    if "run_local" in raw:
        out["run_local"] = truthy(raw["run_local"])
    for key in text_keys:
        if key in raw:
            out[key] = text(key, raw[key])
    for key in number_keys:
        if key in raw:
            out[key] = whole(key, raw[key])
    return out


def listing(values: Iterable[str]) -> str:
    shown_values = [v or "(default)" for v in values]
    return ", ".join(shown_values) if shown_values else "none"


def shown(value: str) -> str:
    """A forged value, safe and short enough to repeat in a message."""
    return repr(value[:60])


# ---------------------------------------------------------------------------------------
# the rules every scheduler's form applies alike


def local_only(raw: Mapping[str, Any]) -> dict[str, Any]:
    """user_options of a hub that runs every server on its own host (scheduler 'local'):
    no batch option is accepted."""
    if set(raw) - {"run_local"}:
        raise OptionsError(LOCAL_ONLY)
    return {"run_local": truthy(raw["run_local"])} if "run_local" in raw else {}


def run_locally(opts: Mapping[str, Any], allow_local: bool) -> Choice | None:
    """The run-locally choice (opts coerced), or None when a batch job was asked for."""
    if not opts.get("run_local"):
        return None
    if not allow_local:
        raise OptionsError("Running on the hub host is not offered here.")
    if (opts.get("image") or NO_IMAGE) != NO_IMAGE:
        # local servers run on the hub host's system: an image would be silently ignored
        raise OptionsError(
            "Container images run in batch jobs only: choose image 'none' to run locally."
        )
    return Choice(run_local=True)


def image_ref(images: Mapping[str, ImageChoice], name: str) -> str:
    """The reference of the chosen image ('' for none), or OptionsError."""
    name = name or NO_IMAGE
    if name == NO_IMAGE:
        return ""
    if name not in images:
        raise OptionsError(
            f"Image {shown(name)} is not offered here (available: {listing([NO_IMAGE, *images])})."
        )
    return images[name].ref


def runtime(minutes: int, max_minutes: int, where: str) -> int:
    if minutes < 1:
        raise OptionsError("Runtime must be at least 1 minute.")
    if minutes > max_minutes:
        raise OptionsError(
            f"Runtime {minutes} min exceeds the maximum of {max_minutes} min {where}."
        )
    return minutes


def image_labels(images: Mapping[str, ImageChoice]) -> dict[str, str]:
    return {NO_IMAGE: "none (host system)"} | {n: c.label for n, c in images.items()}


# ---------------------------------------------------------------------------------------
# rendering


def script_json(data: Any) -> str:
    """JSON safe inside <script>: no '</script>', no HTML-significant characters."""
    text_ = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return text_.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _template_source(name: str) -> str:
    return resources.files("sitehub.hub").joinpath("templates", name).read_text()


def render(
    template: str, model: Any, option_keys: Iterable[str], previous: Mapping[str, Any] | None
) -> str:
    """HTML for JupyterHub's spawn page (inside its <form>) from one of sitehub.hub's
    templates; `previous` (the last user_options) preselects the same choices."""
    import jinja2  # the hub venv has it (JupyterHub needs it); imported late for tests

    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        loader=jinja2.FunctionLoader(_template_source),
    )
    keys = set(option_keys) | {"run_local"}
    prev = {k: v for k, v in (previous or {}).items() if k in keys}
    return env.get_template(template).render(
        model=model,
        images=model.images,
        data=script_json(model.to_json()),
        previous=script_json(prev),
    )


# ---------------------------------------------------------------------------------------
# one scheduler's form


@dataclass(frozen=True)
class Form:
    """What a scheduler's form module supplies: its fields, how a checked choice becomes its
    job request (`job(model, opts)`, OptionsError when not allowed), its template; the
    model it is given has .offered, .notice, .allow_local and .images."""

    text_keys: tuple[str, ...]
    number_keys: tuple[str, ...]
    job: Callable[[Any, dict[str, Any]], Any]
    nothing_offered: str
    template: str

    @property
    def option_keys(self) -> frozenset[str]:
        return frozenset({*self.text_keys, *self.number_keys, "run_local"})

    def coerce(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Form data or API JSON -> user_options (types normalised, unknown keys refused)."""
        return coerce(raw, text_keys=self.text_keys, number_keys=self.number_keys)

    def validate(self, model: Any, raw: Mapping[str, Any]) -> Choice:
        """Re-check user_options against what this user may choose, in the order every form
        keeps: types, run locally, whether anything is offered, the scheduler's own rules."""
        opts = self.coerce(raw)
        local = run_locally(opts, model.allow_local)
        if local is not None:
            return local
        if not model.offered:
            raise OptionsError(model.notice or self.nothing_offered)
        return Choice(run_local=False, job=self.job(model, opts))

    def render_form(self, model: Any, previous: Mapping[str, Any] | None = None) -> str:
        """HTML for JupyterHub's spawn page (inside its <form>)."""
        return render(self.template, model, self.option_keys, previous)
