"""Asks for the task (and the model, when none is configured) when intern-tui starts without one."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, TextArea

from .modals import MODAL_CSS

MODEL_HINT = (
    "a litellm id — anthropic/claude-sonnet-4-5, openai/gpt-5, huggingface/Qwen/…, ollama/qwen3 — "
    "or script:policy.jsonl (no LLM). No key? Quit and run: intern-tui demo"
)


class NewSessionScreen(ModalScreen[tuple[str, str] | None]):
    DEFAULT_CSS = MODAL_CSS + "NewSessionScreen TextArea { height: 8; }"
    BINDINGS = [
        Binding("ctrl+s", "start", "start", id="new.start", priority=True),
        Binding("escape", "dismiss(None)", "quit", id="new.cancel"),
    ]

    def __init__(self, default_model: str | None = None, task: str = ""):
        super().__init__()
        self.default_model = default_model
        self.initial_task = task
        self._checking = False  # a model check is running in a worker

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("New session — what should the agent achieve?", classes="title")
            yield TextArea(self.initial_task, id="task", soft_wrap=True)
            yield Label("Model", classes="hint")
            yield Input(value=self.default_model or "", placeholder="anthropic/claude-sonnet-4-5", id="model")
            yield Label(MODEL_HINT, classes="hint")
            yield Label("", id="new-error", classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Start (ctrl+s)", id="start", variant="primary")
                yield Button("Quit (esc)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#task", TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        else:
            self.dismiss(None)

    def action_start(self) -> None:
        task = self.query_one("#task", TextArea).text.strip()
        model = self.query_one("#model", Input).value.strip()
        error = self.query_one("#new-error", Label)
        if not task:
            error.update("Describe the task first.")
            return
        if not model:
            error.update("Choose a model (see above).")
            return
        if self._checking:
            return
        self._checking = True
        error.update("checking the model…")
        self._check(task, model)

    @work(thread=True, exclusive=True, group="model-check")
    def _check(self, task: str, model: str) -> None:
        """Off the UI thread: checking a model may import litellm (seconds) or reach a local server."""
        from ...agent.models import check_model
        from ...errors import InternError

        try:
            check_model(model, deep=False)  # litellm is imported off the UI thread, at the start
        except InternError as exc:
            self.app.call_from_thread(self._checked, task, model, f"{exc.message}. {exc.hint or ''}")
        except Exception as exc:  # a bug must not leave the form stuck on "checking"
            self.app.call_from_thread(self._checked, task, model, f"cannot check {model}: {exc}")
        else:
            self.app.call_from_thread(self._checked, task, model, None)

    def _checked(self, task: str, model: str, problem: str | None) -> None:
        self._checking = False
        if problem is not None:
            self.query_one("#new-error", Label).update(problem)
            return
        self.dismiss((task, model))
