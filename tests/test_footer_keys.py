"""Every key the footer shows works: pressed on the live dashboard of a running session, each runs its
action without an error; the metrics pane's [ ] switch tabs."""

from helpers import until, write_policy

from intern_tui.agent.session import SessionOptions
from intern_tui.tui.app import InternApp
from intern_tui.tui.screens.dashboard import DashboardScreen
from intern_tui.tui.widgets.metrics_pane import MetricsPane


def footer_bindings(screen):
    return [
        (binding.key.split(",")[0], binding.action)
        for _, binding, enabled, _ in screen.active_bindings.values()
        if binding.show and enabled
    ]


async def test_every_footer_key_runs_its_action(runtime, tmp_path, cp, monkeypatch):
    calls: list[str] = []

    def spy(name, original):
        def wrapper(self, *args):
            calls.append(name)
            return original(self, *args)

        return wrapper

    for name in dir(InternApp):
        if name.startswith("action_") and callable(getattr(InternApp, name)):
            monkeypatch.setattr(InternApp, name, spy(name[len("action_") :], getattr(InternApp, name)))
    model = write_policy(
        tmp_path / "p.jsonl", [("Hold.", "print(checkpoint('hold'))"), ("Done.", "final_answer('x')")]
    )
    app = InternApp(runtime, options=SessionOptions(task="keys", model=model))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: cp.reached_now("hold") and app.supervisor is not None)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        keys = footer_bindings(dashboard)
        assert {action.split("(")[0] for _, action in keys} >= {
            "toggle_pause", "redirect", "approve", "deny", "interrupt", "help", "quit_app"
        }  # fmt: skip
        for key, action in keys:
            calls.clear()
            await pilot.press(key)
            await pilot.pause(0.1)
            assert calls and calls[0] == action.split("(")[0], (key, action, calls)
            while app.screen is not dashboard:  # close whatever the key opened (redirect, help, quit…)
                await pilot.press("escape")
                await pilot.pause(0.05)
        await pilot.press("ctrl+p")  # the palette the footer names on the right
        await until(pilot, lambda: app.screen is not dashboard)
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is dashboard)
        cp.release("hold")
        if app.supervisor.status in ("paused", "pausing"):  # p above paused it
            app.supervisor.resume()
        await until(pilot, lambda: app.model.status.current == "done")


async def test_metric_tab_keys_switch_tabs():
    from intern_tui.telemetry.series import MetricsBook

    app = InternApp()
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.screen is not None)
        pane = MetricsPane()
        await app.screen.mount(pane)
        book = MetricsBook()
        for step in range(1, 4):
            book.add("job-1", step, {"loss": 1.0 / step, "reward": 0.1 * step, "learning_rate": 1e-4})
        pane.update_book(book)
        await pilot.pause(0.2)
        pane.query_one("#metrics-tabs").focus()
        first = pane.group
        await pilot.press("right_square_bracket")
        await pilot.pause(0.1)
        assert pane.group != first
        await pilot.press("left_square_bracket")
        await pilot.pause(0.1)
        assert pane.group == first
