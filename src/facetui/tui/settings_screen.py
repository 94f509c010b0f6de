"""Settings: a form generated from the core's SPECS, checked as you type, saved atomically (unknown keys kept)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Footer, Header, Input, Label, Static

from ..core.base.settings import (
    SPEC_BY_KEY,
    SPECS,
    Settings,
    SettingsError,
    Spec,
    check_value,
    save_settings,
    update_raw,
)
from .base import FacetuiScreen
from .lines import short_path
from .messages import SettingsChanged
from .suggest import PathSuggester
from .widgets import Choice, FieldInput, YesNo


class SpecValidator(Validator):
    """Checks one typed value with the core's own check, so the message is the core's."""

    def __init__(self, spec: Spec, base: Path) -> None:
        super().__init__()
        self.spec, self.base = spec, base

    def validate(self, value: str) -> ValidationResult:
        try:
            check_value(self.spec, value, self.base)
        except SettingsError as e:
            return self.failure(str(e))
        return self.success()


def raw_text(spec: Spec, value: Any) -> str:
    """A settings value as the text a field shows (lists of extensions comma-separated)."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if value is None:
        return ""
    return str(value)


def allowed_text(spec: Spec) -> str:
    if spec.low is not None and spec.high is not None:
        return f" Range {spec.low:g} to {spec.high:g}."
    if spec.kind == "bool":
        return " Space or enter toggles."
    if spec.choices:
        return " One of: " + ", ".join(spec.choices) + "."
    return ""


def make_field(spec: Spec, value: Any, base: Path) -> Widget:
    fid = f"field-{spec.key}"
    if spec.kind == "bool":
        return YesNo(bool(value), id=fid)
    if spec.kind == "choice":
        return Choice(spec.choices, str(value), id=fid)
    suggester = None
    if spec.kind in ("path", "optional_path"):
        suggester = PathSuggester(base, dirs_only=spec.kind == "path")
    return FieldInput(
        raw_text(spec, value),
        id=fid,
        compact=True,
        suggester=suggester,
        validators=[SpecValidator(spec, base)],
        validate_on=["changed", "submitted"],
    )


class SettingsScreen(FacetuiScreen):
    SUB_TITLE = "Settings"
    AUTO_FOCUS = ".field-line > *"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="save"),
        Binding("escape", "cancel", "Cancel", id="cancel"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._loaded: Settings | None = None

    def compose(self) -> ComposeResult:
        s = self.app.settings
        base = self._base(s)
        raw = s.to_json_dict()
        yield Header()
        yield Static("", id="settings-path", markup=False)
        with VerticalScroll(id="form"):
            for spec in SPECS:
                with Horizontal(classes="field-line", id=f"row-{spec.key}"):
                    yield Label(spec.key, classes="field-key")
                    yield make_field(spec, raw.get(spec.key), base)
                if spec.kind not in ("bool", "choice"):  # only typed values can be wrong
                    yield Static("", classes="field-error", id=f"error-{spec.key}", markup=False)
        yield Static("Move to a field to see what it means.", id="field-help", markup=False)
        yield Footer(compact=True)

    @staticmethod
    def _base(s: Settings) -> Path:
        return s.source.parent if s.source is not None else Path.cwd()

    def on_mount(self) -> None:
        self._loaded = self.app.settings
        self._show_path()

    def on_descendant_focus(self, event) -> None:
        key = (getattr(event.widget, "id", None) or "").removeprefix("field-")
        spec = SPEC_BY_KEY.get(key)
        if spec is not None:
            self.query_one("#field-help", Static).update(f"{spec.key}: {spec.help}{allowed_text(spec)}")

    def _show_path(self) -> None:
        s = self.app.settings
        self.query_one("#settings-path", Static).update(
            f"{short_path(s.source)} · tab: next field · ctrl+s: save · escape: cancel · "
            "→ completes a path (relative to the settings file)"
        )

    def refresh_view(self) -> None:
        if self._loaded is not None and self.app.settings is not self._loaded and not self.dirty():
            self.load_values(self.app.settings)

    # -- values -------------------------------------------------------------------------------------------------
    def load_values(self, s: Settings) -> None:
        raw = s.to_json_dict()
        base = self._base(s)
        for spec in SPECS:
            w = self.query_one(f"#field-{spec.key}")
            value = raw.get(spec.key)
            if isinstance(w, YesNo):
                w.value = bool(value)
            elif isinstance(w, Choice):
                w.value = str(value)
            elif isinstance(w, Input):
                w.value = raw_text(spec, value)
                if isinstance(w.suggester, PathSuggester):
                    w.suggester.base = base
                for v in w.validators:
                    if isinstance(v, SpecValidator):
                        v.base = base
                self._show_error(spec.key, "")
        self._loaded = s
        self._show_path()

    def raw_values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in SPECS:
            w = self.query_one(f"#field-{spec.key}")
            out[spec.key] = w.value
        return out

    def dirty(self) -> bool:
        """Whether the form differs from the settings it was loaded from."""
        if self._loaded is None:
            return False
        before = self._loaded.to_json_dict()
        for key, now in self.raw_values().items():
            was = before.get(key)
            if isinstance(now, bool):
                if now != bool(was):
                    return True
            elif raw_text(SPEC_BY_KEY[key], was) != raw_text(SPEC_BY_KEY[key], now):
                return True
        return False

    def _show_error(self, key: str, text: str) -> None:
        err = self.query_one(f"#error-{key}", Static)
        err.update(text)
        err.display = bool(text)

    def on_input_changed(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("field-")
        if event.validation_result is not None:
            fails = event.validation_result.failure_descriptions
            self._show_error(key, fails[0] if fails else "")

    def field_errors(self) -> list[tuple[str, str]]:
        base = self._base(self.app.settings)
        errors = []
        for spec, value in zip(SPECS, self.raw_values().values()):
            try:
                check_value(spec, value, base)
            except SettingsError as e:
                errors.append((spec.key, str(e)))
        return errors

    # -- actions ------------------------------------------------------------------------------------------------
    def action_save(self) -> None:
        errors = self.field_errors()
        for key, text in errors:
            self._show_error(key, text)
        if errors:
            key, text = errors[0]
            self.notify(text, title="Not saved", severity="error")
            self.query_one(f"#field-{key}").focus()
            return
        try:
            new = update_raw(self.app.settings, self.raw_values())
            path = save_settings(new)
        except SettingsError as e:
            self.notify(str(e), title="Not saved", severity="error")
            return
        except OSError as e:
            self.notify(
                f"could not write {short_path(self.app.settings.source)}: {e.strerror or e}",
                title="Not saved",
                severity="error",
            )
            return
        self._loaded = new
        self.app.settings = new  # now, so a screen shown next sees it; the message tells anyone else
        self.app.post_message(SettingsChanged(new))
        self.notify(f"Saved to {short_path(path)}", title="Settings")

    def action_cancel(self) -> None:
        """Leave without saving: the file is untouched and the form goes back to the settings in use."""
        was_dirty = self.dirty()
        self.load_values(self.app.settings)
        if was_dirty:
            self.notify("Changes discarded; the settings file is unchanged.", title="Settings")
        self.app.action_show("home")
