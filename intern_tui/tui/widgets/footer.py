"""The key footer, rebuilt only when the keys it shows change.

Textual's Footer recomposes (a dozen widgets unmounted, mounted and styled again) whenever the focused
widget changes, even when the visible keys are the same: on every pane switch, which a user presses
most. This one compares what it would show first.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class KeyFooter(Footer):
    _shown: tuple | None = None

    def _signature(self, screen: Screen) -> tuple:
        return tuple(
            (binding.key, binding.action, binding.description, enabled)
            for _, binding, enabled, _ in screen.active_bindings.values()
            if binding.show
        )

    def bindings_changed(self, screen: Screen) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            return super().bindings_changed(screen)
        signature = self._signature(screen)
        if signature == self._shown and self._bindings_ready:
            return  # the same keys: nothing to rebuild
        self._shown = signature
        super().bindings_changed(screen)
