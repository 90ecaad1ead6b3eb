"""The console chat: Airlock's own page at ``/chat`` with the same cards, live, and buttons."""

from bot.console.app import ConsoleChat
from bot.console.csrf import Csrf

__all__ = ["ConsoleChat", "Csrf"]
